"""Project 02 fixtures. ``settings`` follow the plugin's ``backend``; ``llm_registry``
scripts the providers (none: the ones the settings configure). Owners, as in project 01,
come from ``contracts.users``; ``default_gateway`` and ``upstream_gateway`` serve the app on
a socket for ``contracts.gateway``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.contracts import support
from genai_shared.testing.contracts.gateway import Gateway
from genai_shared.testing.fake_upstream import RunningFakeUpstream
from genai_shared.testing.live_server import live_server
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
def default_gateway(sqlite_url: str) -> Iterator[Gateway]:
    """The app on embedded defaults: no provider configured, the mock answers."""
    with live_server(create_app(Settings(_env_file=None, database_url=sqlite_url))) as url:
        yield Gateway(url, api_key="unused", database_url=sqlite_url)


@pytest.fixture
def upstream_gateway(sqlite_url: str, fake_upstream: RunningFakeUpstream) -> Iterator[Gateway]:
    """The app with OpenAI, Anthropic and OpenRouter all pointed at the fake upstream."""
    providers = fake_upstream.provider_settings().model_dump()
    settings = Settings(_env_file=None, database_url=sqlite_url, **providers)
    with live_server(create_app(settings)) as url:
        yield Gateway(url, api_key="unused", database_url=sqlite_url)
