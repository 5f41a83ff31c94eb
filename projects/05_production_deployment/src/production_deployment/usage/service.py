"""Budgets and the usage ledger in this app's tables, or in Redis on the hot path.

The database side lives in ``genai_shared.usage.service``, bound here to this app's
models under the names the chat, gateway, agent, admin and usage modules import.
What is this app's own: ``hold`` (reserve in Redis, with the rate limit, when metering
runs there) and a ``Meter`` that settles such a call in Redis and counts every call in
its richer metrics and call log. Functions never commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.llm.calls import CallRecord
from genai_shared.usage.service import (
    INPUT_MARGIN,
    INPUT_OVERHEAD_TOKENS,
    Ledger,
    LedgerRow,
    Reservation,
    UsageRow,
    budget_status_of,
    call_cost_micro,
    period_of,
    since,
    worst_case_micro,
)
from genai_shared.usage.service import Meter as SharedMeter
from production_deployment.core.metrics import Metrics
from production_deployment.idempotency import service as idempotency
from production_deployment.usage.models import BudgetReservation, UsageRecord, UserSpend
from production_deployment.usage.redis_metering import Admitted, RateRule, RedisMetering
from production_deployment.usage.schemas import BudgetStatus
from production_deployment.users.models import User

call_log = logging.getLogger("production_deployment.calls")

ledger = Ledger(
    record_model=UsageRecord,
    reservation_model=BudgetReservation,
    spend_model=UserSpend,
    user_model=User,
)
reserve = ledger.reserve
settle = ledger.settle
release_stale_reservations = ledger.release_stale_reservations
month_spend = ledger.month_spend
usage_by_day = ledger.usage_by_day


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
    return budget_status_of(user, spent, reserved)


@dataclass
class Meter(SharedMeter[Reservation | Admitted]):
    """One metered model call, settled into this app's ledger: in Redis when it was
    admitted there (``reservation`` is an ``Admitted``), else in the database."""

    ledger = ledger
    keys = idempotency.keys

    metrics: Metrics
    metering: RedisMetering | None = None  # set when the reservation is an ``Admitted``

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


__all__ = [
    "INPUT_MARGIN",
    "INPUT_OVERHEAD_TOKENS",
    "LedgerRow",
    "Meter",
    "Reservation",
    "UsageRow",
    "budget_status",
    "call_cost_micro",
    "hold",
    "ledger",
    "month_spend",
    "period_of",
    "release_stale_reservations",
    "reserve",
    "settle",
    "since",
    "usage_by_day",
    "worst_case_micro",
]
