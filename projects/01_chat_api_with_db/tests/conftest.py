"""Project 01 fixtures: its app on the plugin's ``backend`` (SQLite, or PostgreSQL with
Redis as an integration test) and a client on it with the tables created.

The owner fixtures the contracts ask for (``make_user``, ``owner``, ``register_owner``) come
with the genai_shared plugin, from ``contracts.users``: a request names the user who owns a
conversation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from chat_api_with_db.core.config import Settings
from chat_api_with_db.core.database import Base
from chat_api_with_db.main import create_app
from genai_shared.testing.contracts import support


@pytest.fixture
def app_factory() -> support.AppFactory:
    """``app_factory(**settings)``: the app on exactly these settings (no environment file)."""
    return lambda **values: create_app(Settings(_env_file=None, **values))


@pytest.fixture
async def app(
    app_factory: support.AppFactory, backend: str, request: pytest.FixtureRequest
) -> FastAPI:
    return app_factory(environment="test", **await support.backend_settings(backend, request))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with support.serve_with_tables(app, Base.metadata) as client:
        yield client
