"""The shared budgets and ledger (``genai_shared.usage.service``), on SQLite, over tables
of this module's own made from the column mixins, as a project makes them.

The projects' route tests prove the behaviour through their routes and sweepers; these
prove the pieces: the worst case, reserving and settling, the sweep, the report, and the
ledger rows a ``Meter`` writes for a call that failed over.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import BigInteger, CheckConstraint, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, utcnow
from genai_shared.db.session import Database
from genai_shared.idempotency.models import IdempotencyKeyColumns
from genai_shared.idempotency.service import IdempotencyKeys, StoredResponse
from genai_shared.llm.calls import Attempt, CallRecord, Outcome, Target
from genai_shared.llm.providers.mock_provider import MockProvider
from genai_shared.llm.types import ChatMessage, Usage
from genai_shared.usage.exceptions import BudgetExceeded
from genai_shared.usage.models import (
    BudgetReservationColumns,
    UsageRecordColumns,
    UserSpendColumns,
)
from genai_shared.usage.service import (
    Ledger,
    Meter,
    Reservation,
    call_cost_micro,
    period_of,
    since,
    worst_case_micro,
)

PRICED = ("openai", "gpt-4o-mini")  # $0.15 / $0.60 per million tokens


class Base(DeclarativeBase):
    pass


class User(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "user"

    monthly_budget_micro_usd: Mapped[int] = mapped_column(BigInteger, default=1_000_000)


class UsageRecord(UsageRecordColumns, Base):
    __tablename__ = "usage_record"


class BudgetReservation(BudgetReservationColumns, Base):
    __tablename__ = "budget_reservation"


class UserSpend(UserSpendColumns, Base):
    __tablename__ = "user_spend"


class IdempotencyKey(IdempotencyKeyColumns, Base):
    __tablename__ = "idempotency_key"


class OtherBase(DeclarativeBase):
    pass


class OtherRecord(UsageRecordColumns, OtherBase):
    """A second project's ledger from the same mixin."""

    __tablename__ = "usage_record"


ledger = Ledger(
    record_model=UsageRecord,
    reservation_model=BudgetReservation,
    spend_model=UserSpend,
    user_model=User,
)
keys = IdempotencyKeys(IdempotencyKey)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.provider_calls = Counter(
            "provider_calls", "calls", ["provider", "status"], registry=self.registry
        )


class ProjectMeter(Meter[Reservation]):
    ledger = ledger
    keys = keys
    metrics: Metrics


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def user_id(db: Database) -> uuid.UUID:
    async with db.transaction() as session:
        user = User()
        session.add(user)
        await session.flush()
        return user.id


async def _spend(db: Database, user_id: uuid.UUID) -> tuple[int, int]:
    async with db.sessionmaker() as session:
        spend = await ledger.month_spend(session=session, user_id=user_id)
    assert spend is not None
    return spend.spent_micro_usd, spend.reserved_micro_usd


async def _reserve(db: Database, user_id: uuid.UUID, amount: int) -> Reservation:
    async with db.transaction() as session:
        return await ledger.reserve(session=session, user_id=user_id, amount_micro_usd=amount)


def _meter(db: Database, reservation: Reservation, **more: Any) -> ProjectMeter:
    return ProjectMeter(
        db=db,
        metrics=Metrics(),
        reservation=reservation,
        user_id=reservation.user_id,
        api_key_id=None,
        request_id="req-1",
        route="gateway",
        **more,
    )


def test_each_project_table_gets_its_own_constraints() -> None:
    def checks(model: type[Any]) -> dict[str | None, CheckConstraint]:
        return {c.name: c for c in model.__table__.constraints if isinstance(c, CheckConstraint)}

    mine, theirs = checks(UsageRecord), checks(OtherRecord)
    assert set(mine) == set(theirs) == {"status_is_known", "cost_not_negative"}
    assert mine["status_is_known"] is not theirs["status_is_known"]
    assert {i.name for i in UsageRecord.__table__.indexes} == {
        "ix_usage_record_user_id_day",
        "ix_usage_record_day",
    }


def test_periods_and_report_days_are_utc_months_and_days() -> None:
    assert period_of(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == "2026-03"
    assert since(1) == utcnow().date()
    assert since(7) == utcnow().date() - timedelta(days=6)


def test_the_worst_case_is_the_dearest_target_with_a_full_reply() -> None:
    targets = [
        Target(MockProvider(), "echo-1"),  # free
        Target(MockProvider(), "gpt-4o-mini"),
    ]
    targets[1].provider.name = "openai"
    worst = worst_case_micro(targets, [ChatMessage(role="user", content="hi")], 1000)
    full_reply = call_cost_micro(*PRICED, Usage(input_tokens=0, output_tokens=1000))
    assert worst > full_reply > 0


async def test_a_reservation_is_held_then_settled_into_spend(
    db: Database, user_id: uuid.UUID
) -> None:
    reservation = await _reserve(db, user_id, 300_000)
    assert await _spend(db, user_id) == (0, 300_000)
    meter = _meter(db, reservation)
    record = CallRecord(asking=None, usage=Usage(input_tokens=1000, output_tokens=1000))
    record.attempts.append(Attempt(provider="openai", model="gpt-4o-mini", duration_s=0.1))
    await meter.settle(record)
    await meter.settle(record)  # once only
    (row,) = await _rows(db)
    assert (row.provider, row.status, row.request_id, row.route) == (
        "openai",
        "complete",
        "req-1",
        "gateway",
    )
    assert await _spend(db, user_id) == (row.cost_micro_usd, 0)
    labels = {"provider": "openai", "status": "complete"}
    assert meter.metrics.registry.get_sample_value("provider_calls_total", labels) == 1


async def _rows(db: Database) -> list[UsageRecord]:
    async with db.sessionmaker() as session:
        return list(await session.scalars(select(UsageRecord).order_by(UsageRecord.attempt)))


async def test_a_call_that_failed_over_is_a_row_per_attempt(
    db: Database, user_id: uuid.UUID
) -> None:
    meter = _meter(db, await _reserve(db, user_id, 1_000))
    record = CallRecord()
    record.attempts += [
        Attempt(provider="openai", model="gpt-4o-mini", duration_s=0.1, error_type="Down"),
        Attempt(provider="mock", model="echo-1", duration_s=0.1),
    ]
    rows = meter.ledger_rows(record)
    assert [(r["provider"], r["attempt"], r["status"], r["error_type"]) for r in rows] == [
        ("openai", 0, "error", "Down"),
        ("mock", 1, "complete", None),
    ]
    assert len({r["id"] for r in rows}) == 2


async def test_over_budget_is_refused_and_nothing_is_held(db: Database, user_id: uuid.UUID) -> None:
    await _reserve(db, user_id, 900_000)
    with pytest.raises(BudgetExceeded) as refused:
        await _reserve(db, user_id, 200_000)
    assert refused.value.details[0]["needed_usd"] == "0.200000"
    assert await _spend(db, user_id) == (0, 900_000)


async def test_a_stale_reservation_is_released_once(db: Database, user_id: uuid.UUID) -> None:
    reservation = await _reserve(db, user_id, 250_000)
    async with db.transaction() as session:
        await session.execute(
            update(BudgetReservation).values(created_at=utcnow() - timedelta(hours=2))
        )
        stale = await ledger.release_stale_reservations(
            session=session, older_than=utcnow() - timedelta(hours=1)
        )
    assert [r.id for r in stale] == [reservation.id]
    assert await _spend(db, user_id) == (0, 0)
    await _meter(db, reservation).settle(CallRecord(outcome=Outcome.ERROR))  # late settle
    assert await _spend(db, user_id) == (0, 0)  # not released a second time


async def test_a_settled_call_keeps_its_response_for_a_retry(
    db: Database, user_id: uuid.UUID
) -> None:
    claim = await keys.begin(db=db, user_id=user_id, key="k", fingerprint="f", ttl_seconds=60)
    assert not isinstance(claim, StoredResponse)
    meter = _meter(db, await _reserve(db, user_id, 1_000), claim=claim)
    await meter.settle(CallRecord(), response=StoredResponse(200, {"ok": True}))
    again = await keys.begin(db=db, user_id=user_id, key="k", fingerprint="f", ttl_seconds=60)
    assert again == StoredResponse(200, {"ok": True})


async def test_a_failed_call_forgets_its_key(db: Database, user_id: uuid.UUID) -> None:
    claim = await keys.begin(db=db, user_id=user_id, key="k", fingerprint="f", ttl_seconds=60)
    assert not isinstance(claim, StoredResponse)
    meter = _meter(db, await _reserve(db, user_id, 1_000), claim=claim)
    await meter.settle(CallRecord(outcome=Outcome.ERROR), response=StoredResponse(200, {}))
    async with db.sessionmaker() as session:
        assert list(await session.scalars(select(IdempotencyKey))) == []


async def test_the_report_sums_by_day_and_model(db: Database, user_id: uuid.UUID) -> None:
    for _ in range(2):
        meter = _meter(db, await _reserve(db, user_id, 10_000))
        record = CallRecord(usage=Usage(input_tokens=100, output_tokens=100))
        record.attempts.append(Attempt(provider="openai", model="gpt-4o-mini", duration_s=0.1))
        await meter.settle(record)
    async with db.sessionmaker() as session:
        (mine,) = await ledger.usage_by_day(session=session, since=since(1), user_id=user_id)
        (everyone,) = await ledger.usage_by_day(session=session, since=since(1))
        user = await session.get_one(User, user_id)
        status = await ledger.budget_status(session=session, user=user)
    assert (mine.calls, mine.input_tokens, mine.user_id) == (2, 200, None)
    assert (everyone.calls, everyone.user_id) == (2, user_id)
    assert status.spent_usd > 0
    assert status.remaining_usd == status.budget_usd - status.spent_usd
