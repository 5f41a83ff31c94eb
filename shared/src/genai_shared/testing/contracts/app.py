"""App-level behaviour: health, request ids, the error envelope, OpenAPI, docs, settings.

Fixtures a project's conftest provides:

- ``app``: the project's app; a test may add a route or replace a health check on it.
- ``client``: an ``httpx.AsyncClient`` on ``app``, lifespan running.
- ``backend``: ``"sqlite"`` (no Redis configured) or ``"postgres"`` (with Redis).
- ``expect_error``: from the genai_shared plugin.

Class attributes a subclass sets:

- ``method_not_allowed_path``: a route that exists but has no PUT.
- ``documented_404_path``: an OpenAPI path whose GET documents a 404.
- ``settings_class`` and ``get_settings``: the project's ``Settings`` and its cached getter
  (read through the class, so a plain function stays unbound). The settings tests are
  plain functions of the environment: they run once, not per backend.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import httpx
import pytest
from fastapi import FastAPI

from genai_shared.settings import BaseAppSettings
from genai_shared.testing.contracts.support import ExpectError


class CachedSettings(Protocol):
    """A project's ``get_settings``: an ``lru_cache``-wrapped getter."""

    def __call__(self) -> BaseAppSettings: ...

    def cache_clear(self) -> None: ...


class AppContract:
    """What every app built on ``genai_shared.web`` must do, whatever its routes."""

    method_not_allowed_path: ClassVar[str]
    documented_404_path: ClassVar[str]
    settings_class: ClassVar[type[BaseAppSettings]]
    get_settings: ClassVar[CachedSettings]

    # --- over HTTP ----------------------------------------------------------------------------

    async def test_live(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"

    async def test_ready_checks_the_database(self, client: httpx.AsyncClient, backend: str) -> None:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        checks = response.json()["checks"]
        assert checks["database"]["status"] == "ok"
        assert ("redis" in checks) == (backend == "postgres")

    async def test_ready_is_503_naming_the_failed_dependency(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async def broken() -> None:
            raise ConnectionError("db down")

        app.state.health_checks["database"] = broken
        response = await client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == {
            "status": "error",
            "latency_ms": body["checks"]["database"]["latency_ms"],
            "error": "ConnectionError",
        }

    async def test_request_id_is_echoed_or_created(self, client: httpx.AsyncClient) -> None:
        echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"
        created = await client.get("/health/live")
        assert len(created.headers["x-request-id"]) == 32
        hostile = await client.get("/health/live", headers={"X-Request-ID": "a b\nc" * 50})
        assert hostile.headers["x-request-id"] != "a b\nc" * 50

    async def test_unknown_route_and_method_use_the_envelope(
        self, client: httpx.AsyncClient, expect_error: ExpectError
    ) -> None:
        expect_error(await client.get("/api/v1/nope"), 404, "NotFound")
        expect_error(await client.put(self.method_not_allowed_path), 405, "MethodNotAllowed")

    async def test_unexpected_error_is_a_clean_500(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        expect_error: ExpectError,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def explode() -> None:
            raise RuntimeError("secret internals: password=hunter2")

        app.add_api_route("/boom", explode)
        response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
        error = expect_error(response, 500, "InternalServerError")
        assert error["request_id"] == "req-500"
        assert "hunter2" not in response.text
        assert "RuntimeError" not in response.text
        assert any("unhandled error" in r.getMessage() for r in caplog.records)

    async def test_openapi_documents_the_error_envelope(self, client: httpx.AsyncClient) -> None:
        spec = (await client.get("/openapi.json")).json()
        responses = spec["paths"][self.documented_404_path]["get"]["responses"]
        assert "404" in responses
        schema = responses["404"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("ErrorResponse")

    async def test_docs_are_served_without_a_cdn(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "cdn.jsdelivr.net" not in page.text
        assert "unpkg.com" not in page.text

    # --- settings -----------------------------------------------------------------------------

    def test_settings_defaults_need_no_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("DATABASE_URL", "REDIS_URL", "PORT", "ENVIRONMENT", "SECRET_KEY"):
            monkeypatch.delenv(name, raising=False)
        settings = self.settings_class(_env_file=None)
        assert settings.database_url.startswith("sqlite+aiosqlite:///")
        assert settings.redis_url is None
        assert (settings.host, settings.port) == ("127.0.0.1", 8000)

    def test_settings_read_conventional_env_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/chat")
        monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
        monkeypatch.setenv("PORT", "9000")
        settings = self.settings_class(_env_file=None)
        assert settings.database_url == "postgresql+asyncpg://u@db:5432/chat"
        assert settings.redis_url == "redis://cache:6379/0"
        assert settings.port == 9000

    # What else a project needs in production besides SECRET_KEY (05 refuses SQLite ...).
    production_settings: ClassVar[dict[str, Any]] = {}

    def test_production_refuses_the_default_secret(self) -> None:
        with pytest.raises(ValueError, match="SECRET_KEY must be set"):
            self.settings_class(_env_file=None, environment="production")
        assert self.settings_class(
            _env_file=None,
            environment="production",
            secret_key="s" * 40,
            **self.production_settings,
        )

    def test_get_settings_is_cached(self) -> None:
        get_settings = type(self).get_settings
        get_settings.cache_clear()
        assert get_settings() is get_settings()
        get_settings.cache_clear()
