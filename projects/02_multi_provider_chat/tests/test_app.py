"""App-level behaviour: the shared contract, then the two APIs project 02 serves."""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts.app import AppContract
from multi_provider_chat.core.config import Settings, get_settings


class TestApp(AppContract):
    method_not_allowed_path = "/api/v1/users"
    documented_404_path = "/api/v1/users/{user_id}"
    settings_class = Settings
    get_settings = get_settings


async def test_one_app_serves_the_chat_api_and_the_openai_gateway(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/chat/completions", "/v1/models"} <= set(paths)
    assert {"/api/v1/providers", "/api/v1/conversations/{conversation_id}/chat"} <= set(paths)
    chat = paths["/api/v1/conversations/{conversation_id}/chat"]["post"]["responses"]
    # A provider failure before any output is a real status, and the schema says which.
    assert {"201", "200", "404", "429", "502", "504"} <= set(chat)
