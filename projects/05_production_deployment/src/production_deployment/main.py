"""Application factory for project 05: project 04's app, run as a production service."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from redis.asyncio import Redis
from starlette.middleware import Middleware

from genai_shared.cache import RedisCache
from genai_shared.chat.dependencies import install_recent_conversations
from genai_shared.db.session import Database
from genai_shared.llm.dependencies import llm_resources
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.router import router as providers_router
from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores import VectorStore
from genai_shared.ratelimit.limiter import MemoryRateLimiter, RedisRateLimiter
from genai_shared.redis_multiplex import MultiplexedRedis
from genai_shared.web.app import create_base_app
from genai_shared.web.errors import error_response
from genai_shared.web.resources import core_resources
from production_deployment import __version__
from production_deployment.admin.router import router as admin_router
from production_deployment.agent.dependencies import agent_resources
from production_deployment.agent.router import admin_router as agent_admin_router
from production_deployment.agent.router import router as agent_router
from production_deployment.agent.router import turn_router as agent_turn_router
from production_deployment.api_keys.router import router as api_keys_router
from production_deployment.auth.dependencies import admin, authorized, signed_in
from production_deployment.auth.key_cache import ApiKeyCache
from production_deployment.auth.router import router as auth_router
from production_deployment.auth.router import session_router
from production_deployment.auth.security import Security
from production_deployment.chat.router import router as conversations_router
from production_deployment.chat.router import turn_router
from production_deployment.chat.service import count_lookups
from production_deployment.core import metrics
from production_deployment.core.body_limit import MESSAGE, BodySizeLimitMiddleware, BodyTooLarge
from production_deployment.core.config import Settings, get_settings
from production_deployment.gateway.fast_lane import GatewayFastLane
from production_deployment.gateway.router import models_router
from production_deployment.gateway.router import router as gateway_router
from production_deployment.ingest.resources import ingest_resources
from production_deployment.ingest.router import router as documents_router
from production_deployment.observability import probes
from production_deployment.observability.middleware import ObservabilityMiddleware
from production_deployment.observability.startup import configure_observability
from production_deployment.rag.resources import rag_resources
from production_deployment.rag.router import router as collections_router
from production_deployment.rag.router import search_router
from production_deployment.ratelimit.dependencies import (
    RateLimit,
    RateLimitHeadersMiddleware,
    client_rate_limit,
)
from production_deployment.usage.redis_metering import LedgerTask, LedgerWriter, RedisMetering
from production_deployment.usage.router import router as usage_router
from production_deployment.usage.sweeper import sweep_forever
from production_deployment.users.router import router as users_router

API_PREFIX = "/api/v1"
UPLOAD_PATH = re.compile(rf"^{API_PREFIX}/collections/[^/]+/documents$")


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
    api.include_router(agent_admin_router, dependencies=[signed, Depends(admin), default_limit])
    for router in (
        users_router,
        conversations_router,
        collections_router,
        documents_router,
        agent_router,
        search_router,
        usage_router,
        providers_router,
    ):
        api.include_router(router, dependencies=[signed, default_limit])
    api.include_router(turn_router, dependencies=[signed, chat_limit])
    api.include_router(agent_turn_router, dependencies=[signed, chat_limit])

    gateway = APIRouter()
    gateway_limit = Depends(RateLimit("chat", unless_metered_in_redis=True))
    gateway.include_router(gateway_router, dependencies=[signed, gateway_limit])
    gateway.include_router(models_router, dependencies=[signed, default_limit])
    return api, gateway


async def start_redis_metering(
    app: FastAPI, settings: Settings, db: Database, cache: RedisCache
) -> LedgerTask:
    """Meter in Redis (``usage/redis_metering.py``) and run this worker's ledger writer."""
    assert settings.redis_url is not None
    metering = RedisMetering(
        cache.client,
        db=db,
        metrics=app.state.metrics,
        namespace=f"{settings.cache_namespace}meter:",
        reservation_seconds=settings.budget_reservation_timeout_seconds,
        multiplexed=MultiplexedRedis(settings.redis_url, timeout=settings.redis_timeout_seconds),
    )
    app.state.metering = metering
    # Its own connection: a blocking stream read must not hit the request path's timeout.
    client = Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=2)
    writer = LedgerWriter(
        client,
        db=db,
        stream=metering.stream,
        batch=settings.ledger_batch_size,
        claim_idle_ms=int(settings.ledger_claim_idle_seconds * 1000),
        interval_seconds=settings.ledger_flush_interval_seconds,
    )
    return LedgerTask(writer, client)


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    return error_response(413, "ContentTooLarge", MESSAGE)


def create_app(
    settings: Settings | None = None,
    *,
    registry: ProviderRegistry | None = None,
    embedder: Embedder | None = None,
    vector_store: VectorStore | None = None,
) -> FastAPI:
    """Build the app. Resources are opened in the lifespan, not at import.

    ``registry`` replaces the providers built from settings (tests script a mock with it);
    ``embedder`` and ``vector_store`` replace the ones built from settings (tests share one
    loaded MiniLM; the benchmark hands in a store it filled); the caller closes them.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            core_resources(app, settings) as core,
            llm_resources(app, settings, registry),
            rag_resources(
                app, settings, db=core.db, embedder=embedder, vector_store=vector_store
            ) as rag,
            ingest_resources(app, settings),  # after rag: it uses the embedder and the store
            agent_resources(app, settings, core.db, rag=rag),
        ):
            cache = core.cache
            app.state.rate_limiter = (
                RedisRateLimiter(cache.client, namespace="prod05:ratelimit")
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
            app.state.api_key_cache = ApiKeyCache(settings.api_key_cache_seconds)
            # Built once, counted in cache_requests_total (chat.service.count_lookups).
            install_recent_conversations(app, settings, on_lookup=count_lookups(app.state.metrics))
            ledger = None
            app.state.metering = None  # budgets and the ledger in the database
            if settings.metering_backend == "redis":
                assert isinstance(cache, RedisCache), "METERING_BACKEND=redis needs REDIS_URL"
                ledger = await start_redis_metering(app, settings, core.db, cache)
            probes.register_checks(app, default_model=settings.llm_default_model)

            async def refresh_gauges() -> None:
                app.state.metrics.ingest_queue_depth.set(await probes.queue_depth(core.db))

            app.state.refresh_gauges = refresh_gauges
            app.state.started = True
            try:
                yield
            finally:
                app.state.started = False
                if ledger is not None:
                    await ledger.stop()
                if app.state.metering is not None:
                    await app.state.metering.aclose()
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    app = create_base_app(
        title="Production GenAI Service",
        version=__version__,
        settings=settings,
        lifespan=lifespan,
        description=(
            "Project 04: project 03's secure chat API (accounts, API keys, ownership, rate "
            "limits, a usage ledger, budgets, idempotent retries, the /v1 gateway) with "
            "document collections, retrieval with citations, tools and an agent loop. Use "
            "**Authorize** with your email and password, or paste an API key."
        ),
    )
    configure_observability(settings)
    app.state.security = build_security(settings)
    app.state.metrics = metrics.Metrics()
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    # Innermost of the user middleware: inside the request-id and error middleware, so
    # their responses carry the request id and the envelope.
    app.user_middleware.append(
        Middleware(
            BodySizeLimitMiddleware,
            max_bytes=settings.max_request_body_bytes,
            # A document upload may be as large as INGEST_MAX_UPLOAD_BYTES, plus the
            # multipart framing; the route itself answers 413 past the file limit.
            allowances=[(UPLOAD_PATH, settings.ingest_max_upload_bytes + 64 * 1024)],
        )
    )
    app.user_middleware.append(Middleware(RateLimitHeadersMiddleware))
    # Innermost: the hot path's calls skip the router, inside everything above.
    app.user_middleware.append(Middleware(GatewayFastLane))
    # Just inside the request-id middleware (so the access log has the id), outside the
    # error middleware (so a crash is counted as the 500 the client gets).
    app.user_middleware.insert(1, Middleware(ObservabilityMiddleware, metrics=app.state.metrics))
    api, gateway = _routes()
    # The gateway first: the hot path's route is matched before the seventy of the API
    # (FastAPI tries routes in order, and keeps included routers nested).
    app.include_router(gateway)
    app.include_router(api)
    app.include_router(metrics.router)
    app.include_router(probes.router)
    return app


def run() -> None:
    """Serve under gunicorn on HOST:PORT (``production-deployment`` console script)."""
    from production_deployment.serving.gunicorn import run as run_gunicorn

    run_gunicorn()
