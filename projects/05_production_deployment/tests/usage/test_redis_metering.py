"""The hot path's metering on Redis (``usage/redis_metering.py``), on fakeredis with Lua,
and on the real Redis when integration tests run: budgets never overspent, the rate limit
in the same round trip, reservations that expire, the ledger written behind the request
exactly once per row (crashed writers included), counters rebuilt from the ledger.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.redis_multiplex import MultiplexedRedis
from genai_shared.usage.service import period_of
from production_deployment.core.database import Base
from production_deployment.core.metrics import Metrics
from production_deployment.ratelimit.exceptions import RateLimitExceeded
from production_deployment.usage.exceptions import BudgetExceeded, MeteringUnavailable
from production_deployment.usage.models import UsageRecord
from production_deployment.usage.redis_metering import LedgerWriter, RateRule, RedisMetering
from production_deployment.users.models import User


@pytest.fixture
def redis(request: pytest.FixtureRequest) -> Any:
    """The real Redis in integration runs, fakeredis (with Lua) otherwise."""
    name = "redis_client" if os.environ.get("GENAI_INTEGRATION") == "1" else "fake_redis"
    return request.getfixturevalue(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The ledger's database: SQLite, and PostgreSQL (where the writer inserts the rows
    straight from their JSON) in integration runs."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/ledger.db"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    yield database
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await database.dispose()


@pytest.fixture
async def user_id(db: Database) -> uuid.UUID:
    user = User(
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        display_name="Meter",
        password_hash="x",
        monthly_budget_micro_usd=1_000_000,
    )
    async with db.transaction() as session:
        session.add(user)
        await session.flush()
        return user.id


@pytest.fixture(params=["pooled", pytest.param("multiplexed", marks=pytest.mark.integration)])
async def metering(
    request: pytest.FixtureRequest, redis: Any, db: Database
) -> AsyncIterator[RedisMetering]:
    """The scripts through redis-py's pool, and (integration runs: it needs a real server)
    through the app's one multiplexed connection."""
    multiplexed = None
    if request.param == "multiplexed":
        multiplexed = MultiplexedRedis(request.getfixturevalue("redis_url"), timeout=5)
    metering = RedisMetering(
        redis,
        db=db,
        metrics=Metrics(),
        namespace="t:meter:",
        reservation_seconds=3600,
        multiplexed=multiplexed,
    )
    yield metering
    await metering.aclose()


def row(user_id: uuid.UUID, cost: int, *, attempt: int = 0) -> dict[str, Any]:
    """One ledger row as ``Meter.ledger_rows`` makes it: values by column."""
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "created_at": now,
        "day": now.date(),
        "request_id": "req-1",
        "user_id": user_id,
        "api_key_id": None,
        "route": "gateway",
        "conversation_id": None,
        "message_id": None,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "attempt": attempt,
        "input_tokens": 10,
        "output_tokens": 20,
        "usage_estimated": False,
        "cost_micro_usd": cost,
        "status": "complete",
        "error_type": None,
    }


async def ledger_rows(db: Database) -> list[UsageRecord]:
    async with db.transaction() as session:
        return list(await session.scalars(select(UsageRecord)))


async def test_concurrent_admits_never_overspend_the_budget(metering, user_id):
    async def one() -> bool:
        try:
            await metering.admit(user_id=user_id, amount_micro_usd=10, budget_micro_usd=100)
        except BudgetExceeded:
            return False
        return True

    admitted = await asyncio.gather(*(one() for _ in range(50)))
    assert sum(admitted) == 10
    assert await metering.spend(user_id) == (0, 100)


async def test_settling_turns_the_reservation_into_the_real_cost(metering, user_id):
    held = await metering.admit(user_id=user_id, amount_micro_usd=500, budget_micro_usd=1000)
    assert await metering.spend(user_id) == (0, 500)
    assert await metering.settle(held, [row(user_id, 120)]) is True
    assert await metering.spend(user_id) == (120, 0)
    # The room freed is usable: 120 spent + 880 fits a budget of 1000, 881 does not.
    await metering.admit(user_id=user_id, amount_micro_usd=880, budget_micro_usd=1000)
    with pytest.raises(BudgetExceeded) as refused:
        await metering.admit(user_id=user_id, amount_micro_usd=1, budget_micro_usd=1000)
    assert refused.value.details[0]["spent_usd"] == "0.000120"


async def test_the_rate_limit_is_checked_in_the_same_round_trip(metering, user_id):
    rule = RateRule(key=f"user:{user_id}:gateway", limit=3, window_seconds=60)
    for left in (2, 1, 0):
        admitted = await metering.admit(
            user_id=user_id, amount_micro_usd=1, budget_micro_usd=100, rate=rule
        )
        assert admitted.decision is not None
        assert admitted.decision.remaining == left
    with pytest.raises(RateLimitExceeded) as limited:
        await metering.admit(user_id=user_id, amount_micro_usd=1, budget_micro_usd=100, rate=rule)
    assert 1 <= int(limited.value.headers["Retry-After"]) <= 60
    # A refused call reserves nothing.
    assert await metering.spend(user_id) == (0, 3)


async def test_an_abandoned_reservation_expires_and_is_given_back(redis, db, user_id):
    short = RedisMetering(
        redis, db=db, metrics=Metrics(), namespace="t:exp:", reservation_seconds=0
    )
    await short.admit(user_id=user_id, amount_micro_usd=90, budget_micro_usd=100)
    await asyncio.sleep(0.01)
    # The next admit first releases the expired reservation, so 90 fits again.
    await short.admit(user_id=user_id, amount_micro_usd=90, budget_micro_usd=100)
    assert short.metrics.reservations_released._value.get() == 1


async def test_the_ledger_reaches_the_database_once_per_row(metering, redis, db, user_id):
    held = await metering.admit(user_id=user_id, amount_micro_usd=100, budget_micro_usd=1000)
    await metering.settle(held, [row(user_id, 0, attempt=0), row(user_id, 40, attempt=1)])
    writer = LedgerWriter(redis, db=db, stream=metering.stream, block_ms=10)
    await writer.ensure_group()
    batch = await writer.read()
    assert len(batch) == 1
    assert await writer.write(batch) == 2
    assert await writer.write(batch) == 2  # written again (a retry): still two rows
    rows = await ledger_rows(db)
    assert sorted((r.attempt, r.cost_micro_usd) for r in rows) == [(0, 0), (1, 40)]
    assert await redis.xpending(metering.stream, LedgerWriter.GROUP) == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_a_batch_read_by_a_writer_that_died_is_written_by_another(
    metering, redis, db, user_id
):
    for cost in (1, 2, 3):
        held = await metering.admit(user_id=user_id, amount_micro_usd=10, budget_micro_usd=1000)
        await metering.settle(held, [row(user_id, cost)])
    dead = LedgerWriter(redis, db=db, stream=metering.stream, block_ms=10, consumer="dead")
    await dead.ensure_group()
    assert len(await dead.read()) == 3  # read, never written nor acknowledged: then killed
    assert await ledger_rows(db) == []
    alive = LedgerWriter(
        redis, db=db, stream=metering.stream, block_ms=10, claim_idle_ms=50, consumer="alive"
    )
    assert await alive.run_once() == 0  # not idle long enough yet: nothing to claim, no new
    await asyncio.sleep(0.1)
    assert await alive.run_once() == 3
    assert sorted(r.cost_micro_usd for r in await ledger_rows(db)) == [1, 2, 3]


async def test_a_lost_counter_is_rebuilt_from_the_ledger(metering, redis, db, user_id):
    async with db.transaction() as session:
        session.add_all([UsageRecord(**row(user_id, 300)), UsageRecord(**row(user_id, 400))])
    period = period_of(utcnow())
    await redis.delete(f"t:meter:spend:{user_id}:{period}")  # a fresh (or restored) Redis
    with pytest.raises(BudgetExceeded):
        await metering.admit(user_id=user_id, amount_micro_usd=301, budget_micro_usd=1000)
    assert await metering.spend(user_id) == (700, 0)
    await metering.admit(user_id=user_id, amount_micro_usd=300, budget_micro_usd=1000)


async def test_rebuilding_twice_never_overwrites_a_live_counter(metering, db, user_id):
    await metering.admit(user_id=user_id, amount_micro_usd=50, budget_micro_usd=1000)
    await metering.rebuild(user_id, period_of(utcnow()))  # a late second worker
    assert await metering.spend(user_id) == (0, 50)


async def test_rows_survive_the_round_trip_through_json(metering, redis, db, user_id):
    original = row(user_id, 77)
    held = await metering.admit(user_id=user_id, amount_micro_usd=100, budget_micro_usd=1000)
    await metering.settle(held, [original])
    writer = LedgerWriter(redis, db=db, stream=metering.stream, block_ms=10)
    await writer.ensure_group()
    await writer.run_once()
    (stored,) = await ledger_rows(db)
    assert stored.id == original["id"]
    assert stored.user_id == user_id
    assert stored.day == original["day"]
    # (SQLite keeps no time zone: the instant is compared in UTC.)
    assert stored.created_at.replace(tzinfo=UTC) == original["created_at"]
    assert (stored.input_tokens, stored.output_tokens, stored.cost_micro_usd) == (10, 20, 77)
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 1


async def test_an_unreachable_redis_refuses_the_call_with_a_503(db, user_id):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    multiplexed = MultiplexedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    metering = RedisMetering(
        Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5),
        db=db,
        metrics=Metrics(),
        namespace="t:meter:",
        reservation_seconds=3600,
        multiplexed=multiplexed,
    )
    with pytest.raises(MeteringUnavailable) as refused:
        await metering.admit(user_id=user_id, amount_micro_usd=1, budget_micro_usd=100)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    await metering.client.aclose()
