from __future__ import annotations

import pytest

from secure_chat_api.core.config import Settings
from secure_chat_api.core.database import Base
from secure_chat_api.main import create_app

CANARY = "sk-canary-do-not-leak-4242"


async def test_offline_default_is_the_mock(client):
    body = (await client.get("/api/v1/providers")).json()
    assert body["default_model"] == "mock/echo-1"
    by_name = {p["name"]: p for p in body["providers"]}
    assert by_name["mock"]["configured"] is True
    assert "mock/echo-1" in by_name["mock"]["models"]
    assert by_name["openai"] == {
        "name": "openai",
        "configured": False,
        "has_credentials": False,
        "base_url": None,
        "models": [],
    }


async def test_keys_are_never_shown(asgi_client, sqlite_url, settings_factory, signup):
    settings = settings_factory(
        database_url=sqlite_url,
        openai_api_key=CANARY,
        anthropic_api_key=CANARY + "-a",
        openai_base_url="http://user:hunter2@127.0.0.1:9/v1",
    )
    app = create_app(settings)
    async with asgi_client(app) as client:
        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        client.headers.update((await signup(client, "p@example.com")).headers)
        response = await client.get("/api/v1/providers")
        models = await client.get("/v1/models")
    assert CANARY not in response.text + models.text
    assert "hunter2" not in response.text
    by_name = {p["name"]: p for p in response.json()["providers"]}
    assert by_name["openai"]["has_credentials"] is True
    assert by_name["openai"]["base_url"] == "http://127.0.0.1:9/v1"
    assert "openai/gpt-4o-mini" in by_name["openai"]["models"]
    assert CANARY not in repr(settings)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "LLM_DEFAULT_MODEL"])
def test_provider_settings_come_from_conventional_env_names(monkeypatch, name):
    monkeypatch.setenv(name, "value/x")
    settings = Settings(_env_file=None)
    value = getattr(settings, name.lower())
    assert (value.get_secret_value() if hasattr(value, "get_secret_value") else value) == "value/x"
