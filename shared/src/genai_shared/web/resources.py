"""What every project opens in its lifespan: logging, the database, the cache, the probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from genai_shared.cache import Cache, build_cache
from genai_shared.db.session import Database
from genai_shared.log import configure_logging
from genai_shared.settings import BaseAppSettings


@dataclass(frozen=True)
class CoreResources:
    db: Database
    cache: Cache


@asynccontextmanager
async def core_resources(app: FastAPI, settings: BaseAppSettings) -> AsyncIterator[CoreResources]:
    """Open the database and cache, publish them on ``app.state``, register readiness checks.

    ``app.state.db`` and ``app.state.cache`` are set; ``/health/ready`` checks the
    database, and Redis when one is configured. Both are closed on the way out.
    """
    configure_logging(settings.log_level)
    db = Database(
        settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size
    )
    cache = build_cache(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
    app.state.db, app.state.cache = db, cache
    app.state.health_checks["database"] = db.ping
    if settings.redis_url:
        app.state.health_checks["redis"] = cache.ping
    try:
        yield CoreResources(db=db, cache=cache)
    finally:
        await cache.aclose()
        await db.dispose()
