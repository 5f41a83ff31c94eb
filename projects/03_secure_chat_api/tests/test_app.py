"""App-level behaviour: health, request ids, the error envelope, OpenAPI, settings."""

from __future__ import annotations

import pytest

from secure_chat_api.core.config import Settings, get_settings


async def test_live(client):
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_checks_the_database(client, backend):
    response = await client.get("/health/ready")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert ("redis" in checks) == (backend == "postgres")


async def test_ready_is_503_naming_the_failed_dependency(app, client):
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


async def test_request_id_is_echoed_or_created(client):
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    created = await client.get("/health/live")
    assert len(created.headers["x-request-id"]) == 32
    hostile = await client.get("/health/live", headers={"X-Request-ID": "a b\nc" * 50})
    assert hostile.headers["x-request-id"] != "a b\nc" * 50


async def test_unknown_route_and_method_use_the_envelope(client, expect_error):
    expect_error(await client.get("/api/v1/nope"), 404, "NotFound")
    expect_error(await client.put("/api/v1/users/me"), 405, "MethodNotAllowed")


async def test_unexpected_error_is_a_clean_500(app, client, expect_error, caplog):
    async def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/boom", explode)
    response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    error = expect_error(response, 500, "InternalServerError")
    assert error["request_id"] == "req-500"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


async def test_openapi_documents_the_error_envelope(client):
    spec = (await client.get("/openapi.json")).json()
    get_one = spec["paths"]["/api/v1/conversations/{conversation_id}"]["get"]
    assert "404" in get_one["responses"]
    assert get_one["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorResponse"
    )
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/login"
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"


async def test_docs_are_served_without_a_cdn(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr.net" not in page.text
    assert "unpkg.com" not in page.text


def test_settings_defaults_need_no_environment(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "PORT", "ENVIRONMENT", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_settings_read_conventional_env_names(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/chat")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("PORT", "9000")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/chat"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.port == 9000


def test_production_refuses_the_default_secret():
    with pytest.raises(ValueError, match="SECRET_KEY must be set"):
        Settings(_env_file=None, environment="production")
    assert Settings(_env_file=None, environment="production", secret_key="s" * 40)


def test_get_settings_is_cached():
    get_settings.cache_clear()
    assert get_settings() is get_settings()
    get_settings.cache_clear()
