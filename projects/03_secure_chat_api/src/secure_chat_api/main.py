"""Application factory for project 03."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.middleware import Middleware

from genai_shared.cache import RedisCache
from genai_shared.llm.dependencies import llm_resources
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.router import router as providers_router
from genai_shared.ratelimit.limiter import MemoryRateLimiter, RedisRateLimiter
from genai_shared.web.app import create_base_app
from genai_shared.web.errors import error_response
from genai_shared.web.resources import core_resources
from genai_shared.web.serve import serve
from secure_chat_api import __version__
from secure_chat_api.admin.router import router as admin_router
from secure_chat_api.api_keys.router import router as api_keys_router
from secure_chat_api.auth.dependencies import admin, authorized, signed_in
from secure_chat_api.auth.router import router as auth_router
from secure_chat_api.auth.router import session_router
from secure_chat_api.auth.security import Security
from secure_chat_api.chat.router import router as conversations_router
from secure_chat_api.chat.router import turn_router
from secure_chat_api.core import metrics
from secure_chat_api.core.body_limit import MESSAGE, BodySizeLimitMiddleware, BodyTooLarge
from secure_chat_api.core.config import Settings, get_settings
from secure_chat_api.gateway.router import models_router
from secure_chat_api.gateway.router import router as gateway_router
from secure_chat_api.ratelimit.dependencies import (
    RateLimit,
    RateLimitHeadersMiddleware,
    client_rate_limit,
)
from secure_chat_api.usage.router import router as usage_router
from secure_chat_api.usage.sweeper import sweep_forever
from secure_chat_api.users.router import router as users_router

API_PREFIX = "/api/v1"


def build_security(settings: Settings) -> Security:
    hasher = Argon2Hasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=1,
    )
    return Security(
        settings.secret_key.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        password_hasher=PasswordHash((hasher,)),
    )


def _routes() -> tuple[APIRouter, APIRouter]:
    """Every route, with its guards applied once, here, per group of routers.

    Order matters: who is calling (401), may they (403), then the rate limit (429).
    """
    signed = Depends(authorized)
    default_limit, chat_limit = Depends(RateLimit("default")), Depends(RateLimit("chat"))

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_router, dependencies=[Depends(client_rate_limit)])
    api.include_router(session_router, dependencies=[signed, Depends(signed_in), default_limit])
    api.include_router(api_keys_router, dependencies=[signed, Depends(signed_in), default_limit])
    api.include_router(admin_router, dependencies=[signed, Depends(admin), default_limit])
    for router in (users_router, conversations_router, usage_router, providers_router):
        api.include_router(router, dependencies=[signed, default_limit])
    api.include_router(turn_router, dependencies=[signed, chat_limit])

    gateway = APIRouter()
    gateway.include_router(gateway_router, dependencies=[signed, chat_limit])
    gateway.include_router(models_router, dependencies=[signed, default_limit])
    return api, gateway


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    return error_response(413, "ContentTooLarge", MESSAGE)


def create_app(
    settings: Settings | None = None, *, registry: ProviderRegistry | None = None
) -> FastAPI:
    """Build the app. Resources are opened in the lifespan, not at import.

    ``registry`` replaces the providers built from settings (tests script a mock with it).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with core_resources(app, settings) as core, llm_resources(app, settings, registry):
            cache = core.cache
            app.state.rate_limiter = (
                RedisRateLimiter(cache.client, namespace="chat03:ratelimit")
                if isinstance(cache, RedisCache)
                else MemoryRateLimiter()
            )
            sweeper = asyncio.create_task(
                sweep_forever(
                    db=core.db,
                    metrics=app.state.metrics,
                    timeout_seconds=settings.budget_reservation_timeout_seconds,
                    interval_seconds=settings.budget_sweep_interval_seconds,
                ),
                name="budget-reservation-sweeper",
            )
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    app = create_base_app(
        title="Secure chat API",
        version=__version__,
        settings=settings,
        lifespan=lifespan,
        description=(
            "Project 03: project 02's multi-provider chat with accounts (JWT + refresh "
            "tokens), API keys, per-user ownership, rate limits, a usage ledger, monthly "
            "budgets and idempotent retries. Use **Authorize** with your email and password, "
            "or paste an API key."
        ),
    )
    app.state.security = build_security(settings)
    app.state.metrics = metrics.Metrics()
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    # Innermost of the user middleware: inside the request-id and error middleware, so
    # their responses carry the request id and the envelope.
    app.user_middleware.append(
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    )
    app.user_middleware.append(Middleware(RateLimitHeadersMiddleware))
    api, gateway = _routes()
    app.include_router(api)
    app.include_router(gateway)
    app.include_router(metrics.router)
    return app


def run() -> None:
    """Serve on HOST:PORT (``secure-chat-api`` console script)."""
    serve("secure_chat_api.main:create_app", get_settings())
