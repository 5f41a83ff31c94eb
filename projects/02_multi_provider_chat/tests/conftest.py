"""Project 02 fixtures. ``settings`` follow the plugin's ``backend``; ``llm_registry``
scripts the providers (none: the ones the settings configure); ``make_conversation`` is for
the chat tests. Owners, as in project 01, come from ``contracts.users``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.contracts import support
from genai_shared.testing.contracts.users import make_user, owner, register_owner  # noqa: F401 - fixtures
from multi_provider_chat.core.config import Settings
from multi_provider_chat.core.database import Base
from multi_provider_chat.main import create_app


@pytest.fixture
def app_factory() -> support.AppFactory:
    """``app_factory(**settings)``: the app on exactly these settings, default providers."""
    return lambda **values: create_app(Settings(_env_file=None, **values))


@pytest.fixture
async def settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    values = await support.backend_settings(backend, request)
    return Settings(_env_file=None, environment="test", **values)


@pytest.fixture
def llm_registry() -> ProviderRegistry | None:
    """Override in a test module (or parametrize) to script the providers."""
    return None


@pytest.fixture
def app(settings: Settings, llm_registry: ProviderRegistry | None) -> FastAPI:
    return create_app(settings, registry=llm_registry)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with support.serve_with_tables(app, Base.metadata) as client:
        yield client


@pytest.fixture
def make_conversation(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_conversation(user_id, title=...)``: a conversation of that user's."""

    async def make(user_id: str, title: str = "A chat", **extra: Any) -> dict[str, Any]:
        user = support.Owner.named_in_request(user_id)
        return await support.new_conversation(client, user, title, **extra)

    return make
