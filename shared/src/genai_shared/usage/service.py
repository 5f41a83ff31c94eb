"""Budgets and the usage ledger. Functions never commit.

A call's worst-case cost is *reserved* before the provider is called, with one
conditional UPDATE that only succeeds while ``spent + reserved + cost <= budget``; two
concurrent calls cannot both take the last of a budget, on PostgreSQL (row lock) or on
SQLite (database lock). After the call, ``settle`` releases the reservation, adds the
real cost and writes the ledger rows, in one transaction, so the ledger always sums to
the user's spend.

Each reservation is also a row of its own (``budget_reservation``). A call whose process
dies never settles; ``release_stale_reservations`` (run by the sweeper) gives such
reservations back once they are older than any call can last. Whoever deletes the row
releases the amount, so a late settle after a sweep never releases it twice.

Each project has its own models (its own metadata), so the queries live on ``Ledger``,
made once per project with them, and ``Meter`` finds the project's ledger and idempotency
keys as class attributes of the project's subclass. The project's ``usage.service``
module exposes both under the usual names.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from prometheus_client import Counter
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.idempotency.service import Claim, IdempotencyKeys, StoredResponse
from genai_shared.llm.calls import CallRecord, Outcome, Target
from genai_shared.llm.pricing import estimate_cost
from genai_shared.llm.tokens import count_messages
from genai_shared.llm.types import ChatMessage, Usage
from genai_shared.usage.exceptions import BudgetExceeded
from genai_shared.usage.models import (
    BudgetReservationColumns,
    UsageRecordColumns,
    UserSpendColumns,
)
from genai_shared.usage.money import from_micro, to_micro
from genai_shared.usage.schemas import BudgetStatus

# The tokenizer here and the provider's may count a prompt differently: reserve a margin.
INPUT_MARGIN = 1.1
INPUT_OVERHEAD_TOKENS = 16

# One ledger row's values by ``UsageRecord`` column name: plain values, so that a ledger
# kept elsewhere (Redis, in project 05) writes them without making ORM objects.
LedgerRow = dict[str, Any]

R = TypeVar("R", bound=UsageRecordColumns)
B = TypeVar("B", bound=BudgetReservationColumns)
S = TypeVar("S", bound=UserSpendColumns)
H = TypeVar("H")  # what a Meter's call holds: a Reservation here, or a project's own


@dataclass(frozen=True)
class Reservation:
    id: uuid.UUID
    user_id: uuid.UUID
    period: str
    amount_micro_usd: int


class BudgetOwner(Protocol):
    """What ``budget_status`` needs of a project's user."""

    id: uuid.UUID
    monthly_budget_micro_usd: int


class ProviderCallMetrics(Protocol):
    """What ``Meter`` counts settled calls in (a project's ``Metrics``)."""

    provider_calls: Counter


def period_of(moment: datetime) -> str:
    """The budget month of ``moment`` (UTC), as "2026-12"."""
    return f"{moment.year:04d}-{moment.month:02d}"


def call_cost_micro(provider: str, model: str, usage: Usage) -> int:
    return to_micro(estimate_cost(f"{provider}/{model}", usage).usd)


def worst_case_micro(
    targets: Sequence[Target], messages: Sequence[ChatMessage], max_tokens: int
) -> int:
    """The most this call can cost: any target of its chain, a full max_tokens reply."""
    input_tokens = math.ceil(count_messages(list(messages)) * INPUT_MARGIN)
    usage = Usage(input_tokens=input_tokens + INPUT_OVERHEAD_TOKENS, output_tokens=max_tokens)
    return max(call_cost_micro(t.provider.name, t.model, usage) for t in targets)


def since(days: int) -> date:
    """The first day of a report covering ``days`` days, today included (UTC)."""
    return utcnow().date() - timedelta(days=days - 1)


@dataclass(frozen=True)
class UsageRow:
    day: date
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_micro_usd: int
    user_id: uuid.UUID | None = None


class Ledger(Generic[R, B, S]):
    """Budgets and the ledger in one project's tables: its ``UsageRecord``,
    ``BudgetReservation``, ``UserSpend`` and ``User`` models."""

    def __init__(
        self,
        *,
        record_model: type[R],
        reservation_model: type[B],
        spend_model: type[S],
        user_model: type[Any],
    ) -> None:
        self.record_model = record_model
        self.reservation_model = reservation_model
        self.spend_model = spend_model
        self.user_model = user_model
        # The same classes, to build rows: the mixins declare no keyword constructor.
        self._new_record: Any = record_model
        self._new_reservation: Any = reservation_model

    def records(self, rows: Sequence[LedgerRow]) -> list[R]:
        """Ledger rows as the project's ``UsageRecord`` objects."""
        new = self._new_record
        return [new(**row) for row in rows]

    async def _ensure_spend_row(
        self, session: AsyncSession, user_id: uuid.UUID, period: str
    ) -> None:
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(self.spend_model)
            .values(user_id=user_id, period=period, spent_micro_usd=0, reserved_micro_usd=0)
            .on_conflict_do_nothing(index_elements=["user_id", "period"])
        )

    async def reserve(
        self,
        *,
        session: AsyncSession,
        user_id: uuid.UUID,
        amount_micro_usd: int,
        request_id: str | None = None,
    ) -> Reservation:
        """Reserve ``amount`` of this month's budget, or raise BudgetExceeded."""
        spend, user = self.spend_model, self.user_model
        now = utcnow()
        period = period_of(now)
        await self._ensure_spend_row(session, user_id, period)
        budget_query = select(user.monthly_budget_micro_usd).where(user.id == user_id)
        budget = budget_query.scalar_subquery()
        result = await session.execute(
            update(spend)
            .where(
                spend.user_id == user_id,
                spend.period == period,
                spend.spent_micro_usd + spend.reserved_micro_usd + amount_micro_usd <= budget,
            )
            .values(reserved_micro_usd=spend.reserved_micro_usd + amount_micro_usd)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            row = await session.get(spend, (user_id, period))
            limit = await session.scalar(budget_query)
            raise BudgetExceeded(
                details=[
                    {
                        "budget_usd": str(from_micro(int(limit or 0))),
                        "spent_usd": str(from_micro(row.spent_micro_usd if row else 0)),
                        "reserved_usd": str(from_micro(row.reserved_micro_usd if row else 0)),
                        "needed_usd": str(from_micro(amount_micro_usd)),
                    }
                ]
            )
        held = self._new_reservation(
            user_id=user_id,
            period=period,
            amount_micro_usd=amount_micro_usd,
            request_id=request_id,
            created_at=now,
        )
        session.add(held)
        await session.flush()
        return Reservation(
            id=held.id, user_id=user_id, period=period, amount_micro_usd=amount_micro_usd
        )

    async def settle(
        self, *, session: AsyncSession, reservation: Reservation, records: Sequence[R]
    ) -> None:
        """Write the ledger rows and turn the reservation into the real spend."""
        reservations, spend = self.reservation_model, self.spend_model
        session.add_all(records)
        spent = sum(r.cost_micro_usd for r in records)
        released = await session.execute(
            delete(reservations)
            .where(reservations.id == reservation.id)
            .execution_options(synchronize_session=False)
        )
        # 0 rows: the sweeper took this reservation for abandoned and has released it already.
        held = reservation.amount_micro_usd if released.rowcount == 1 else 0  # type: ignore[attr-defined]
        await session.execute(
            update(spend)
            .where(spend.user_id == reservation.user_id, spend.period == reservation.period)
            .values(
                reserved_micro_usd=spend.reserved_micro_usd - held,
                spent_micro_usd=spend.spent_micro_usd + spent,
            )
            .execution_options(synchronize_session=False)
        )
        await session.flush()

    async def release_stale_reservations(
        self, *, session: AsyncSession, older_than: datetime
    ) -> list[B]:
        """Release every reservation made before ``older_than`` (its call never settled, so
        its process died): the amounts go back to their users' budgets, uncharged."""
        reservations, spend = self.reservation_model, self.spend_model
        stale = list(
            await session.scalars(
                delete(reservations)
                .where(reservations.created_at < older_than)
                .returning(reservations)
                .execution_options(synchronize_session=False)
            )
        )
        held: dict[tuple[uuid.UUID, str], int] = {}
        for row in stale:
            held[row.user_id, row.period] = (
                held.get((row.user_id, row.period), 0) + row.amount_micro_usd
            )
        for (user_id, period), amount in held.items():
            await session.execute(
                update(spend)
                .where(spend.user_id == user_id, spend.period == period)
                .values(reserved_micro_usd=spend.reserved_micro_usd - amount)
                .execution_options(synchronize_session=False)
            )
        return stale

    async def month_spend(self, *, session: AsyncSession, user_id: uuid.UUID) -> S | None:
        return await session.get(self.spend_model, (user_id, period_of(utcnow())))

    async def budget_status(self, *, session: AsyncSession, user: BudgetOwner) -> BudgetStatus:
        """Where the user's budget stands this month."""
        spend = await self.month_spend(session=session, user_id=user.id)
        spent = spend.spent_micro_usd if spend else 0
        reserved = spend.reserved_micro_usd if spend else 0
        return budget_status_of(user, spent, reserved)

    async def usage_by_day(
        self, *, session: AsyncSession, since: date, user_id: uuid.UUID | None = None
    ) -> list[UsageRow]:
        """Calls, tokens and cost per day and model (per user too when ``user_id`` is None)."""
        record = self.record_model
        columns: list[Any] = [record.day, record.provider, record.model]
        if user_id is None:
            columns.append(record.user_id)
        query = (
            select(
                *columns,
                func.count().label("calls"),
                func.coalesce(func.sum(record.input_tokens), 0).label("input_tokens"),
                func.coalesce(func.sum(record.output_tokens), 0).label("output_tokens"),
                func.coalesce(func.sum(record.cost_micro_usd), 0).label("cost"),
            )
            .where(record.day >= since)
            .group_by(*columns)
            .order_by(*columns)
        )
        if user_id is not None:
            query = query.where(record.user_id == user_id)
        rows = await session.execute(query)
        return [
            UsageRow(
                day=row.day,
                provider=row.provider,
                model=row.model,
                calls=int(row.calls),
                input_tokens=int(row.input_tokens),
                output_tokens=int(row.output_tokens),
                cost_micro_usd=int(row.cost),
                user_id=getattr(row, "user_id", None),
            )
            for row in rows
        ]


def budget_status_of(user: BudgetOwner, spent: int, reserved: int) -> BudgetStatus:
    """The user's budget this month, given what is spent and reserved (wherever kept)."""
    return BudgetStatus(
        period=period_of(utcnow()),
        budget_usd=from_micro(user.monthly_budget_micro_usd),
        spent_usd=from_micro(spent),
        reserved_usd=from_micro(reserved),
        remaining_usd=from_micro(max(0, user.monthly_budget_micro_usd - spent - reserved)),
    )


@dataclass
class Meter(Generic[H]):
    """One metered model call: its reservation, and the ledger rows it settles into.

    Made once the reservation is held, before the provider is called; settled exactly
    once from the call's ``CallRecord``, whatever happened to the call: complete, failed,
    streamed, cut off or abandoned. With an ``Idempotency-Key`` (``claim``), the same
    transaction keeps the response a retry gets, or forgets the key when the call did
    not complete, so that a retry runs again.

    A project subclasses it once, setting ``ledger`` and ``keys`` to its own.
    """

    ledger: ClassVar[Ledger[Any, Any, Any]]
    keys: ClassVar[IdempotencyKeys]

    db: Database
    metrics: ProviderCallMetrics
    reservation: H
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    request_id: str | None
    route: Literal["chat", "gateway"]
    conversation_id: uuid.UUID | None = None
    claim: Claim | None = None
    settled: bool = field(default=False, init=False)

    def ledger_rows(
        self, record: CallRecord, message_id: uuid.UUID | None = None
    ) -> list[LedgerRow]:
        """A row per attempt that failed over, and one for the target that ended the call."""
        now = utcnow()
        common = {
            "created_at": now,
            "day": now.date(),
            "request_id": self.request_id,
            "user_id": self.user_id,
            "api_key_id": self.api_key_id,
            "route": self.route,
            "conversation_id": self.conversation_id,
            "message_id": message_id,
        }
        failed_over = record.failed_over
        rows: list[LedgerRow] = [
            {
                "id": uuid.uuid4(),
                **common,
                "provider": attempt.provider,
                "model": attempt.model,
                "attempt": index,
                "input_tokens": 0,
                "output_tokens": 0,
                "usage_estimated": False,
                "cost_micro_usd": 0,
                "status": Outcome.ERROR.value,
                "error_type": attempt.error_type,
            }
            for index, attempt in enumerate(failed_over)
        ]
        # None only if the call failed before a target was chosen: still one row.
        provider, model = record.provider or "unknown", record.model or "unknown"
        rows.append(
            {
                "id": uuid.uuid4(),
                **common,
                "provider": provider,
                "model": model,
                "attempt": len(failed_over),
                "input_tokens": record.usage.input_tokens,
                "output_tokens": record.usage.output_tokens,
                "usage_estimated": record.usage_estimated,
                "cost_micro_usd": call_cost_micro(provider, model, record.usage),
                "status": record.outcome.value,
                "error_type": (
                    record.error_type if record.outcome is not Outcome.COMPLETE else None
                ),
            }
        )
        return rows

    async def settle(
        self,
        record: CallRecord,
        *,
        session: AsyncSession | None = None,
        message_id: uuid.UUID | None = None,
        response: StoredResponse | None = None,
    ) -> None:
        """Settle the reservation into the ledger (once; later calls do nothing), in
        ``session``'s transaction when given (with the reply it stores), else its own."""
        if self.settled:
            return
        if session is None:
            async with self.db.transaction() as own:
                await self._settle_in(own, record, message_id, response)
        else:
            await self._settle_in(session, record, message_id, response)

    async def _settle_in(
        self,
        session: AsyncSession,
        record: CallRecord,
        message_id: uuid.UUID | None,
        response: StoredResponse | None,
    ) -> None:
        reservation = self.reservation
        assert isinstance(reservation, Reservation), "a database reservation settles here"
        rows = self.ledger_rows(record, message_id)
        ledger = self.ledger
        await ledger.settle(session=session, reservation=reservation, records=ledger.records(rows))
        if self.claim is not None:
            await self._keep_or_forget(session, record, response)
        self.settled = True
        self._observe(rows, record)

    async def _keep_or_forget(
        self, session: AsyncSession, record: CallRecord, response: StoredResponse | None
    ) -> None:
        """Keep the response for retries when the call completed, else forget the key."""
        assert self.claim is not None
        if record.outcome is Outcome.COMPLETE and response is not None:
            await self.keys.keep_response(session=session, claim=self.claim, response=response)
        else:
            await self.keys.forget(session=session, claim=self.claim)

    def _observe(self, rows: Sequence[LedgerRow], record: CallRecord) -> None:
        """Count the settled rows (a project with more metrics overrides this)."""
        for row in rows:
            self.metrics.provider_calls.labels(provider=row["provider"], status=row["status"]).inc()
