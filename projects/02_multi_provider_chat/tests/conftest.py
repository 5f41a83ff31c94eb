"""Project 02 fixtures. Every API test runs twice: on SQLite with the in-process cache, and
(integration) on the real PostgreSQL with the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from genai_shared.llm.registry import ProviderRegistry
from multi_provider_chat.core.config import Settings
from multi_provider_chat.core.database import Base
from multi_provider_chat.main import create_app

ApiCall = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def settings(backend: str, request: pytest.FixtureRequest, sqlite_url: str) -> Settings:
    if backend == "sqlite":
        return Settings(_env_file=None, environment="test", database_url=sqlite_url)
    redis_url = request.getfixturevalue("redis_url")
    client = Redis.from_url(redis_url, socket_timeout=2)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return Settings(
        _env_file=None,
        environment="test",
        database_url=request.getfixturevalue("postgres_url"),
        redis_url=redis_url,
        # Generous on a busy CI box: a timeout would silently skip the cache under test.
        redis_timeout_seconds=5,
    )


@pytest.fixture
def llm_registry() -> ProviderRegistry | None:
    """Override in a test module (or parametrize) to script the providers."""
    return None


@pytest.fixture
def app(settings: Settings, llm_registry: ProviderRegistry | None) -> FastAPI:
    return create_app(settings, registry=llm_registry)


@pytest.fixture
async def client(app: FastAPI, asgi_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        try:
            yield client
        finally:
            async with app.state.db.engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    counter = iter(range(1_000_000))

    async def make(email: str | None = None, display_name: str = "Ada") -> dict[str, Any]:
        email = email or f"user{next(counter)}@example.com"
        response = await client.post(
            "/api/v1/users", json={"email": email, "display_name": display_name}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


@pytest.fixture
def make_conversation(
    client: httpx.AsyncClient,
) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(user_id: str, title: str = "A chat", **extra: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/conversations", json={"user_id": user_id, "title": title, **extra}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make
