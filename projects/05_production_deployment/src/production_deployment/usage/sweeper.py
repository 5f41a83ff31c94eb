"""The reservation sweeper: gives back budget held by calls whose process died, and frees
the ``Idempotency-Key`` claims those calls left unfinished.

Every process runs one, from its lifespan: once at start-up (a restarted worker cleans up
after the one it replaces) and then every ``BUDGET_SWEEP_INTERVAL_SECONDS``. Several
processes sweeping at once is safe: each stale row is deleted, and its amount released,
by exactly one of them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from production_deployment.core.metrics import Metrics
from production_deployment.idempotency import service as idempotency
from production_deployment.usage import service

logger = logging.getLogger(__name__)


async def sweep_once(*, db: Database, metrics: Metrics, timeout_seconds: int) -> int:
    """Release the reservations (and unfinished idempotency claims) older than
    ``timeout_seconds``; return how many reservations."""
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    async with db.transaction() as session:
        stale = await service.release_stale_reservations(session=session, older_than=cutoff)
        claims = await idempotency.forget_abandoned(session=session, older_than=cutoff)
        await idempotency.purge_expired(session=session)  # keeps the table to one TTL of keys
    if claims:
        logger.warning("released %d unfinished Idempotency-Key claim(s)", claims)
    if stale:
        metrics.reservations_released.inc(len(stale))
        logger.warning(
            "released %d budget reservation(s) whose calls never settled (request ids: %s)",
            len(stale),
            ", ".join(sorted(r.request_id or "-" for r in stale)),
        )
    return len(stale)


async def sweep_forever(
    *, db: Database, metrics: Metrics, timeout_seconds: int, interval_seconds: float
) -> None:
    """``sweep_once`` now and every ``interval_seconds``, until cancelled; a failed sweep
    (database unreachable) is logged and tried again next time."""
    while True:
        try:
            await sweep_once(db=db, metrics=metrics, timeout_seconds=timeout_seconds)
        except Exception as error:  # the database is down, or not migrated yet
            logger.warning(
                "the budget reservation sweep failed (%s); retrying in %ss",
                type(error).__name__,
                interval_seconds,
            )
        await asyncio.sleep(interval_seconds)
