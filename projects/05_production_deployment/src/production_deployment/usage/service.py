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
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord, Outcome, Target
from genai_shared.llm.pricing import estimate_cost
from genai_shared.llm.tokens import count_messages
from genai_shared.llm.types import ChatMessage, Usage
from production_deployment.core.metrics import Metrics
from production_deployment.core.money import from_micro, to_micro
from production_deployment.idempotency import service as idempotency
from production_deployment.usage.exceptions import BudgetExceeded
from production_deployment.usage.models import BudgetReservation, UsageRecord, UserSpend
from production_deployment.usage.redis_metering import (
    Admitted,
    RateRule,
    RedisMetering,
    period_of,
)
from production_deployment.usage.schemas import BudgetStatus
from production_deployment.users.models import User

call_log = logging.getLogger("production_deployment.calls")

# One ledger row's values by ``UsageRecord`` column name.
LedgerRow = dict[str, Any]

# The tokenizer here and the provider's may count a prompt differently: reserve a margin.
INPUT_MARGIN = 1.1
INPUT_OVERHEAD_TOKENS = 16


@dataclass(frozen=True)
class Reservation:
    id: uuid.UUID
    user_id: uuid.UUID
    period: str
    amount_micro_usd: int


def call_cost_micro(provider: str, model: str, usage: Usage) -> int:
    return to_micro(estimate_cost(f"{provider}/{model}", usage).usd)


def worst_case_micro(
    targets: Sequence[Target], messages: Sequence[ChatMessage], max_tokens: int
) -> int:
    """The most this call can cost: any target of its chain, a full max_tokens reply."""
    input_tokens = math.ceil(count_messages(list(messages)) * INPUT_MARGIN)
    usage = Usage(input_tokens=input_tokens + INPUT_OVERHEAD_TOKENS, output_tokens=max_tokens)
    return max(call_cost_micro(t.provider.name, t.model, usage) for t in targets)


async def _ensure_spend_row(session: AsyncSession, user_id: uuid.UUID, period: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(UserSpend)
        .values(user_id=user_id, period=period, spent_micro_usd=0, reserved_micro_usd=0)
        .on_conflict_do_nothing(index_elements=["user_id", "period"])
    )


async def reserve(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    amount_micro_usd: int,
    request_id: str | None = None,
) -> Reservation:
    """Reserve ``amount`` of this month's budget, or raise BudgetExceeded."""
    now = utcnow()
    period = period_of(now)
    await _ensure_spend_row(session, user_id, period)
    budget_query = select(User.monthly_budget_micro_usd).where(User.id == user_id)
    budget = budget_query.scalar_subquery()
    result = await session.execute(
        update(UserSpend)
        .where(
            UserSpend.user_id == user_id,
            UserSpend.period == period,
            UserSpend.spent_micro_usd + UserSpend.reserved_micro_usd + amount_micro_usd <= budget,
        )
        .values(reserved_micro_usd=UserSpend.reserved_micro_usd + amount_micro_usd)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        spend = await session.get(UserSpend, (user_id, period))
        limit = await session.scalar(budget_query)
        raise BudgetExceeded(
            details=[
                {
                    "budget_usd": str(from_micro(int(limit or 0))),
                    "spent_usd": str(from_micro(spend.spent_micro_usd if spend else 0)),
                    "reserved_usd": str(from_micro(spend.reserved_micro_usd if spend else 0)),
                    "needed_usd": str(from_micro(amount_micro_usd)),
                }
            ]
        )
    held = BudgetReservation(
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


async def hold(
    *,
    metering: RedisMetering | None,
    session: AsyncSession,
    user_id: uuid.UUID,
    budget_micro_usd: int,
    amount_micro_usd: int,
    request_id: str | None = None,
    rate: RateRule | None = None,
) -> Reservation | Admitted:
    """Reserve the call's worst case: in Redis (with ``rate``, the rate limit in the same
    round trip) when metering runs there, else in ``session``'s transaction."""
    if metering is not None:
        return await metering.admit(
            user_id=user_id,
            amount_micro_usd=amount_micro_usd,
            budget_micro_usd=budget_micro_usd,
            rate=rate,
        )
    return await reserve(
        session=session, user_id=user_id, amount_micro_usd=amount_micro_usd, request_id=request_id
    )


async def settle(
    *, session: AsyncSession, reservation: Reservation, records: Sequence[UsageRecord]
) -> None:
    """Write the ledger rows and turn the reservation into the real spend."""
    session.add_all(records)
    spent = sum(r.cost_micro_usd for r in records)
    released = await session.execute(
        delete(BudgetReservation)
        .where(BudgetReservation.id == reservation.id)
        .execution_options(synchronize_session=False)
    )
    # 0 rows: the sweeper took this reservation for abandoned and has released it already.
    held = reservation.amount_micro_usd if released.rowcount == 1 else 0  # type: ignore[attr-defined]
    await session.execute(
        update(UserSpend)
        .where(UserSpend.user_id == reservation.user_id, UserSpend.period == reservation.period)
        .values(
            reserved_micro_usd=UserSpend.reserved_micro_usd - held,
            spent_micro_usd=UserSpend.spent_micro_usd + spent,
        )
        .execution_options(synchronize_session=False)
    )
    await session.flush()


async def release_stale_reservations(
    *, session: AsyncSession, older_than: datetime
) -> list[BudgetReservation]:
    """Release every reservation made before ``older_than`` (its call never settled, so
    its process died): the amounts go back to their users' budgets, uncharged."""
    stale = list(
        await session.scalars(
            delete(BudgetReservation)
            .where(BudgetReservation.created_at < older_than)
            .returning(BudgetReservation)
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
            update(UserSpend)
            .where(UserSpend.user_id == user_id, UserSpend.period == period)
            .values(reserved_micro_usd=UserSpend.reserved_micro_usd - amount)
            .execution_options(synchronize_session=False)
        )
    return stale


async def month_spend(*, session: AsyncSession, user_id: uuid.UUID) -> UserSpend | None:
    return await session.get(UserSpend, (user_id, period_of(utcnow())))


async def budget_status(
    *, session: AsyncSession, user: User, metering: RedisMetering | None = None
) -> BudgetStatus:
    """Where the user's budget stands this month (in Redis when metering runs there)."""
    if metering is not None:
        spent, reserved = await metering.spend(user.id)
    else:
        spend = await month_spend(session=session, user_id=user.id)
        spent = spend.spent_micro_usd if spend else 0
        reserved = spend.reserved_micro_usd if spend else 0
    return BudgetStatus(
        period=period_of(utcnow()),
        budget_usd=from_micro(user.monthly_budget_micro_usd),
        spent_usd=from_micro(spent),
        reserved_usd=from_micro(reserved),
        remaining_usd=from_micro(max(0, user.monthly_budget_micro_usd - spent - reserved)),
    )


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


async def usage_by_day(
    *, session: AsyncSession, since: date, user_id: uuid.UUID | None = None
) -> list[UsageRow]:
    """Calls, tokens and cost per day and model (per user too when ``user_id`` is None)."""
    columns = [UsageRecord.day, UsageRecord.provider, UsageRecord.model]
    if user_id is None:
        columns.append(UsageRecord.user_id)
    query = (
        select(
            *columns,
            func.count().label("calls"),
            func.coalesce(func.sum(UsageRecord.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(UsageRecord.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0).label("cost"),
        )
        .where(UsageRecord.day >= since)
        .group_by(*columns)
        .order_by(*columns)
    )
    if user_id is not None:
        query = query.where(UsageRecord.user_id == user_id)
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


@dataclass
class Meter:
    """One metered model call: its reservation, and the ledger rows it settles into.

    Made once the reservation is held, before the provider is called; settled exactly
    once from the call's ``CallRecord``, whatever happened to the call: complete, failed,
    streamed, cut off or abandoned. With an ``Idempotency-Key`` (``claim``), the same
    transaction keeps the response a retry gets, or forgets the key when the call did
    not complete, so that a retry runs again.
    """

    db: Database
    metrics: Metrics
    reservation: Reservation | Admitted
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    request_id: str | None
    route: Literal["chat", "gateway"]
    conversation_id: uuid.UUID | None = None
    claim: idempotency.Claim | None = None
    metering: RedisMetering | None = None  # set when the reservation is an ``Admitted``
    settled: bool = field(default=False, init=False)

    def ledger_rows(
        self, record: CallRecord, message_id: uuid.UUID | None = None
    ) -> list[LedgerRow]:
        """A row per attempt that failed over, and one for the target that ended the call:
        plain values by column (the Redis path writes them as JSON, never as ORM objects)."""
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
        response: idempotency.StoredResponse | None = None,
    ) -> None:
        """Settle the reservation into the ledger (once; later calls do nothing), in
        ``session``'s transaction when given (with the reply it stores), else its own."""
        if self.settled:
            return
        if isinstance(self.reservation, Admitted):
            assert self.metering is not None, "a call admitted in Redis is settled there"
            await self._settle_in_redis(self.metering, record, session, message_id, response)
            return
        if session is None:
            async with self.db.transaction() as own:
                await self._settle_in(own, record, message_id, response)
        else:
            await self._settle_in(session, record, message_id, response)

    async def _settle_in_redis(
        self,
        metering: RedisMetering,
        record: CallRecord,
        session: AsyncSession | None,
        message_id: uuid.UUID | None,
        response: idempotency.StoredResponse | None,
    ) -> None:
        """The ledger rows and the spend go to Redis in one step; an Idempotency-Key's
        stored response (rare on the hot path) still goes to the database."""
        assert isinstance(self.reservation, Admitted)
        rows = self.ledger_rows(record, message_id)
        await metering.settle(self.reservation, rows)
        if self.claim is not None:
            if session is None:
                async with self.db.transaction() as own:
                    await self._keep_or_forget(own, record, response)
            else:
                await self._keep_or_forget(session, record, response)
        self.settled = True
        self._observe(rows, record)

    async def _keep_or_forget(
        self,
        session: AsyncSession,
        record: CallRecord,
        response: idempotency.StoredResponse | None,
    ) -> None:
        assert self.claim is not None
        if record.outcome is Outcome.COMPLETE and response is not None:
            await idempotency.keep_response(session=session, claim=self.claim, response=response)
        else:
            await idempotency.forget(session=session, claim=self.claim)

    async def _settle_in(
        self,
        session: AsyncSession,
        record: CallRecord,
        message_id: uuid.UUID | None,
        response: idempotency.StoredResponse | None,
    ) -> None:
        rows = self.ledger_rows(record, message_id)
        assert isinstance(self.reservation, Reservation)
        records = [UsageRecord(**row) for row in rows]
        await settle(session=session, reservation=self.reservation, records=records)
        if self.claim is not None:
            if record.outcome is Outcome.COMPLETE and response is not None:
                await idempotency.keep_response(
                    session=session, claim=self.claim, response=response
                )
            else:
                await idempotency.forget(session=session, claim=self.claim)
        self.settled = True
        self._observe(rows, record)

    def _observe(self, rows: Sequence[LedgerRow], record: CallRecord) -> None:
        for row in rows:
            provider, model, status = row["provider"], row["model"], row["status"]
            metrics, cost = self.metrics, row["cost_micro_usd"]
            metrics.child(metrics.provider_calls, provider, model, status).inc()
            metrics.child(metrics.tokens, provider, model, "input").inc(row["input_tokens"])
            metrics.child(metrics.tokens, provider, model, "output").inc(row["output_tokens"])
            metrics.child(metrics.cost, provider, model).inc(cost / 1_000_000)
            if call_log.isEnabledFor(logging.INFO):
                call_log.info(
                    "provider call",
                    extra={
                        "request_id": row["request_id"],
                        "user_id": str(row["user_id"]),
                        "provider": provider,
                        "model": model,
                        "outcome": status,
                        "input_tokens": row["input_tokens"],
                        "output_tokens": row["output_tokens"],
                        "cost_usd": f"{cost / 1_000_000:.6f}",
                        "latency_ms": record.latency_ms,
                    },
                )
