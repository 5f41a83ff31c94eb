"""Application factory for project 03."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from genai_shared.cache import build_cache
from genai_shared.db.session import Database
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.log import configure_logging
from genai_shared.web.app import create_base_app
from secure_chat_api import __version__
from secure_chat_api.chat.router import router as chat_router
from secure_chat_api.core.config import Settings, get_settings
from secure_chat_api.gateway.router import router as gateway_router
from secure_chat_api.llm.router import router as providers_router
from secure_chat_api.users.router import router as users_router

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
        configure_logging(settings.log_level)
        db = Database(
            settings.database_url,
            echo=settings.database_echo,
            pool_size=settings.database_pool_size,
        )
        cache = build_cache(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
        llm = registry or ProviderRegistry.from_settings(settings)
        app.state.db, app.state.cache, app.state.llm = db, cache, llm
        app.state.health_checks["database"] = db.ping
        if settings.redis_url:
            app.state.health_checks["redis"] = cache.ping
        try:
            yield
        finally:
            if registry is None:
                await llm.aclose()
            await cache.aclose()
            await db.dispose()

    app = create_base_app(
        title="Multi-provider chat",
        version=__version__,
        settings=settings,
        lifespan=lifespan,
        description=(
            "Project 03: chat over OpenAI, Anthropic, OpenRouter, LiteLLM or an offline mock, "
            "with streaming, history, failover and an OpenAI-compatible /v1 gateway."
        ),
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(users_router)
    api.include_router(chat_router)
    api.include_router(providers_router)
    app.include_router(api)
    app.include_router(gateway_router)
    return app


def run() -> None:
    """Serve with uvicorn on HOST:PORT (``secure-chat-api`` console script)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "secure_chat_api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )
