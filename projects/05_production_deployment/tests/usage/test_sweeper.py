"""The reservation sweeper: budget held by a call whose process died comes back, once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from genai_shared.db.base import utcnow
from production_deployment.idempotency.models import IdempotencyKey
from production_deployment.usage import service as usage_service
from production_deployment.usage.models import BudgetReservation, UsageRecord, UserSpend
from production_deployment.usage.sweeper import sweep_once

HELD = 250_000  # micro-USD


async def _reserve(app, user_id: uuid.UUID, *, age: timedelta = timedelta(0)):
    async with app.state.db.transaction() as session:
        reservation = await usage_service.reserve(
            session=session, user_id=user_id, amount_micro_usd=HELD, request_id="req-dead"
        )
        if age:
            await session.execute(
                update(BudgetReservation)
                .where(BudgetReservation.id == reservation.id)
                .values(created_at=utcnow() - age)
            )
    return reservation


async def _reserved(app, user_id: uuid.UUID) -> tuple[int, int, int]:
    """(reserved, spent, reservation rows) for the user this month."""
    async with app.state.db.sessionmaker() as session:
        spend = await session.get(UserSpend, (user_id, usage_service.period_of(utcnow())))
        rows = await session.scalar(select(func.count()).select_from(BudgetReservation))
    assert spend is not None
    return spend.reserved_micro_usd, spend.spent_micro_usd, int(rows or 0)


def _record(user_id: uuid.UUID, cost: int) -> UsageRecord:
    now = utcnow()
    return UsageRecord(
        created_at=now,
        day=now.date(),
        user_id=user_id,
        route="chat",
        provider="openai",
        model="gpt-4o-mini",
        attempt=0,
        input_tokens=10,
        output_tokens=10,
        cost_micro_usd=cost,
        status="complete",
    )


@pytest.fixture
def user_id(user) -> uuid.UUID:
    return uuid.UUID(user.id)


async def test_a_stale_reservation_is_released_and_logged(app, user_id, caplog):
    await _reserve(app, user_id, age=timedelta(hours=2))
    assert await _reserved(app, user_id) == (HELD, 0, 1)
    with caplog.at_level(logging.WARNING, logger="production_deployment.usage.sweeper"):
        released = await sweep_once(
            db=app.state.db, metrics=app.state.metrics, timeout_seconds=3600
        )
    assert released == 1
    assert await _reserved(app, user_id) == (0, 0, 0)
    assert "req-dead" in caplog.text
    metric = app.state.metrics.registry.get_sample_value("budget_reservations_released_total")
    assert metric == 1


async def test_a_call_in_flight_is_left_alone(app, user_id):
    await _reserve(app, user_id, age=timedelta(minutes=5))
    assert await sweep_once(db=app.state.db, metrics=app.state.metrics, timeout_seconds=3600) == 0
    assert await _reserved(app, user_id) == (HELD, 0, 1)


async def test_a_settle_after_the_sweep_does_not_release_twice(app, user_id):
    """The call was only slow, not dead: it settles after all, and is charged once."""
    reservation = await _reserve(app, user_id, age=timedelta(hours=2))
    await sweep_once(db=app.state.db, metrics=app.state.metrics, timeout_seconds=3600)
    async with app.state.db.transaction() as session:
        await usage_service.settle(
            session=session, reservation=reservation, records=[_record(user_id, 1_000)]
        )
    assert await _reserved(app, user_id) == (0, 1_000, 0)


async def test_a_settle_releases_its_own_row(app, user_id):
    reservation = await _reserve(app, user_id)
    async with app.state.db.transaction() as session:
        await usage_service.settle(
            session=session, reservation=reservation, records=[_record(user_id, 1_000)]
        )
    assert await _reserved(app, user_id) == (0, 1_000, 0)
    assert await sweep_once(db=app.state.db, metrics=app.state.metrics, timeout_seconds=60) == 0


class TestInTheApp:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"budget_sweep_interval_seconds": 0.05, "budget_reservation_timeout_seconds": 60}

    async def test_the_running_app_sweeps_on_its_own(self, app, user_id):
        await _reserve(app, user_id, age=timedelta(minutes=2))
        for _ in range(200):  # hang guard (10 s), not a speed expectation
            if await _reserved(app, user_id) == (0, 0, 0):
                break
            await asyncio.sleep(0.05)
        assert await _reserved(app, user_id) == (0, 0, 0)


async def test_unfinished_idempotency_claims_and_expired_keys_are_cleared(app, user_id):
    """A claim whose call never finished would answer 409 until the key expired; keys
    past their expiry would pile up for ever."""
    now = utcnow()

    def key(
        name: str, *, age: timedelta, status: int | None, expired: bool = False
    ) -> IdempotencyKey:
        return IdempotencyKey(
            user_id=user_id,
            key=name,
            request_hash="0" * 64,
            response_status=status,
            response_body={} if status else None,
            created_at=now - age,
            expires_at=now - timedelta(seconds=1) if expired else now + timedelta(days=1),
        )

    async with app.state.db.transaction() as session:
        session.add_all(
            [
                key("dead", age=timedelta(hours=2), status=None),
                key("running", age=timedelta(minutes=1), status=None),
                key("answered", age=timedelta(hours=2), status=201),
                key("expired", age=timedelta(days=2), status=201, expired=True),
            ]
        )
    await sweep_once(db=app.state.db, metrics=app.state.metrics, timeout_seconds=3600)
    async with app.state.db.sessionmaker() as session:
        left = set(await session.scalars(select(IdempotencyKey.key)))
    assert left == {"running", "answered"}  # and expired keys are purged
