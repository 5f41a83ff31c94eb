"""Application factory for project 02."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from genai_shared.llm.dependencies import llm_resources
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.router import router as providers_router
from genai_shared.web.app import create_base_app
from genai_shared.web.resources import core_resources
from genai_shared.web.serve import serve
from multi_provider_chat import __version__
from multi_provider_chat.chat.router import router as chat_router
from multi_provider_chat.core.config import Settings, get_settings
from multi_provider_chat.gateway.router import router as gateway_router
from multi_provider_chat.users.router import router as users_router

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None, *, registry: ProviderRegistry | None = None
) -> FastAPI:
    """Build the app. Resources are opened in the lifespan, not at import.

    ``registry`` replaces the providers built from settings (tests script a mock with it).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with core_resources(app, settings), llm_resources(app, settings, registry):
            yield

    app = create_base_app(
        title="Multi-provider chat",
        version=__version__,
        settings=settings,
        lifespan=lifespan,
        description=(
            "Project 02: chat over OpenAI, Anthropic, OpenRouter, LiteLLM or an offline mock, "
            "with streaming, history, failover and an OpenAI-compatible /v1 gateway."
        ),
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(users_router)
    api.include_router(chat_router)
    api.include_router(providers_router)
    # The gateway first: it is the hot path, and routes are matched in order.
    app.include_router(gateway_router)
    app.include_router(api)
    return app


def run() -> None:
    """Serve on HOST:PORT (``multi-provider-chat`` console script)."""
    serve("multi_provider_chat.main:create_app", get_settings())
