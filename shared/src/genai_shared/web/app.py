"""The application shell every project starts from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from genai_shared.settings import BaseAppSettings
from genai_shared.web import health
from genai_shared.web.drain import Drain
from genai_shared.web.errors import UnhandledErrorMiddleware, register_error_handlers
from genai_shared.web.request_id import REQUEST_ID_HEADER, RequestIdMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_base_app(
    *,
    title: str,
    version: str,
    settings: BaseAppSettings,
    lifespan: Lifespan | Callable[[FastAPI], AsyncIterator[Any]] | None = None,
    description: str = "",
) -> FastAPI:
    """A FastAPI app with offline /docs, the error envelope, request ids, CORS and health."""
    app: FastAPI = FastAPIOffline(
        title=title, version=version, description=description, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.health_checks = {}
    app.state.drain = Drain()
    register_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, so every response has it
    app.include_router(health.router)
    return app
