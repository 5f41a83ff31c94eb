"""App-level behaviour: the shared contract, then project 01's own API surface."""

from __future__ import annotations

import httpx

from chat_api_with_db.core.config import Settings, get_settings
from genai_shared.testing.contracts.app import AppContract


class TestApp(AppContract):
    method_not_allowed_path = "/api/v1/users"
    documented_404_path = "/api/v1/users/{user_id}"
    settings_class = Settings
    get_settings = get_settings


async def test_openapi_names_the_errors_each_route_can_answer(client: httpx.AsyncClient) -> None:
    """A client reads from the schema which errors to handle, and where."""
    paths = (await client.get("/openapi.json")).json()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[f"/api/v1{path}"][method]["responses"])

    assert {"201", "404", "422"} <= statuses("/conversations", "post")  # the owner must exist
    assert {"200", "422"} <= statuses("/conversations", "get")  # a bad cursor
    assert {"200", "404", "422"} <= statuses("/conversations/{conversation_id}/messages", "get")
    assert {"201", "409"} <= statuses("/users", "post")
    assert "/api/v1/conversations/{conversation_id}/chat" not in paths  # no model until 02
