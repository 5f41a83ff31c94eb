"""What the app says about its LLM providers (``/api/v1/providers``), and never says.

Fixtures a project's conftest provides:

- ``client``: an ``httpx.AsyncClient`` on the app, default providers (03: signed in).
- ``app_factory``: ``app_factory(**settings)`` builds the project's app with these settings
  (over the project's test defaults, where it has some), tables not created.
- ``register_owner``: ``await register_owner(client)`` signs a new ``Owner`` up through any
  client; the requests then carry its ``headers`` (none in 02, a bearer token in 03).
- ``sqlite_url``: from the genai_shared plugin.

Class attributes a subclass sets:

- ``settings_class``: the project's ``Settings``, to read the environment.
- ``metadata``: the project's ``Base.metadata``, for an app a test builds itself.
"""

from __future__ import annotations

from typing import ClassVar

import httpx
import pytest
from sqlalchemy import MetaData

from genai_shared.settings import BaseAppSettings
from genai_shared.testing.contracts.support import AppFactory, RegisterOwner, serve_with_tables

# A key that must never appear in anything the app shows; a password in a base URL likewise.
CANARY = "sk-canary-do-not-leak-4242"


class ProvidersContract:
    """Which providers are configured is public; their keys and URL passwords are not."""

    settings_class: ClassVar[type[BaseAppSettings]]
    metadata: ClassVar[MetaData]

    async def test_offline_default_is_the_mock(self, client: httpx.AsyncClient) -> None:
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

    async def test_keys_are_never_shown(
        self, app_factory: AppFactory, register_owner: RegisterOwner, sqlite_url: str
    ) -> None:
        app = app_factory(
            database_url=sqlite_url,
            openai_api_key=CANARY,
            anthropic_api_key=CANARY + "-a",
            openai_base_url="http://user:hunter2@127.0.0.1:9/v1",
        )
        async with serve_with_tables(app, self.metadata) as client:
            client.headers.update((await register_owner(client)).headers)
            response = await client.get("/api/v1/providers")
            models = await client.get("/v1/models")
        assert response.status_code == 200, response.text
        assert models.status_code == 200, models.text
        assert CANARY not in response.text + models.text
        assert "hunter2" not in response.text
        by_name = {p["name"]: p for p in response.json()["providers"]}
        assert by_name["openai"]["has_credentials"] is True
        assert by_name["openai"]["base_url"] == "http://127.0.0.1:9/v1"
        assert "openai/gpt-4o-mini" in by_name["openai"]["models"]
        assert CANARY not in repr(app.state.settings)

    @pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "LLM_DEFAULT_MODEL"])
    def test_provider_settings_come_from_conventional_env_names(
        self, monkeypatch: pytest.MonkeyPatch, name: str
    ) -> None:
        monkeypatch.setenv(name, "value/x")
        settings = self.settings_class(_env_file=None)
        value = getattr(settings, name.lower())
        assert (value.get_secret_value() if hasattr(value, "get_secret_value") else value) == (
            "value/x"
        )
