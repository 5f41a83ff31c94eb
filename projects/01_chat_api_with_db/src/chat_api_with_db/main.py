"""Application factory for project 01."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from chat_api_with_db import __version__
from chat_api_with_db.chat.router import router as chat_router
from chat_api_with_db.core.config import Settings, get_settings
from chat_api_with_db.users.router import router as users_router
from genai_shared.web.app import create_base_app
from genai_shared.web.resources import core_resources
from genai_shared.web.serve import serve

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Resources are opened in the lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with core_resources(app, settings):
            yield

    app = create_base_app(
        title="Chat API with database",
        version=__version__,
        settings=settings,
        lifespan=lifespan,
        description=(
            "Project 01: users, conversations and messages on PostgreSQL, with Redis caching."
        ),
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(users_router)
    api.include_router(chat_router)
    app.include_router(api)
    return app


def run() -> None:
    """Serve on HOST:PORT (``chat-api-with-db`` console script)."""
    serve("chat_api_with_db.main:create_app", get_settings())
