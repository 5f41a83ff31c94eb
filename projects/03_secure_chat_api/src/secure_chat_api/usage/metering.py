"""One metered model call: its reservation, and the ledger rows it settles into.

Created before the provider is called (after the reservation), settled exactly once
whatever happens to the call: complete, failed, streamed, cut off or abandoned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.gateway.service import CallRecord
from genai_shared.llm.fallback import Attempt
from genai_shared.llm.types import Usage
from secure_chat_api.core.metrics import Metrics
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.usage import service
from secure_chat_api.usage.models import CallStatus, UsageRecord


@dataclass(frozen=True)
class Ending:
    """How a call ended, for the ledger: the target that ended it (answered, failed last,
    or was being asked when the caller left) and the attempts that failed over before it."""

    status: CallStatus
    provider: str
    model: str
    usage: Usage
    failed_over: Sequence[Attempt] = ()
    usage_estimated: bool = False
    error_type: str | None = None


_STATUS = {
    "complete": CallStatus.COMPLETE,
    "error": CallStatus.ERROR,
    "cancelled": CallStatus.CANCELLED,
}


def ending_of(record: CallRecord) -> Ending:
    """A gateway call's ending, from the record the shared gateway filled in."""
    return Ending(
        status=_STATUS[record.outcome],
        # None only if the call failed before a target was chosen: still one row.
        provider=record.provider or "unknown",
        model=record.model or "unknown",
        usage=record.usage,
        failed_over=record.failed_over,
        usage_estimated=record.usage_estimated,
        error_type=record.error_type if record.outcome == "error" else None,
    )


@dataclass
class Meter:
    db: Database
    metrics: Metrics
    reservation: service.Reservation
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    request_id: str | None
    route: Literal["chat", "gateway"]
    conversation_id: uuid.UUID | None = None
    claim: idempotency.Claim | None = None  # the call's Idempotency-Key, if it has one
    settled: bool = field(default=False, init=False)

    def records(self, ending: Ending, message_id: uuid.UUID | None = None) -> list[UsageRecord]:
        """A row per attempt that failed over, and one for how the call ended."""
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
        rows = [
            UsageRecord(
                **common,
                provider=attempt.provider,
                model=attempt.model,
                attempt=index,
                input_tokens=0,
                output_tokens=0,
                cost_micro_usd=0,
                status=CallStatus.ERROR.value,
                error_type=attempt.error_type,
            )
            for index, attempt in enumerate(ending.failed_over)
        ]
        rows.append(
            UsageRecord(
                **common,
                provider=ending.provider,
                model=ending.model,
                attempt=len(ending.failed_over),
                input_tokens=ending.usage.input_tokens,
                output_tokens=ending.usage.output_tokens,
                usage_estimated=ending.usage_estimated,
                cost_micro_usd=service.call_cost_micro(ending.provider, ending.model, ending.usage),
                status=ending.status.value,
                error_type=ending.error_type,
            )
        )
        return rows

    async def settle_in(
        self,
        session: AsyncSession,
        ending: Ending,
        *,
        message_id: uuid.UUID | None = None,
        result: idempotency.Result | None = None,
    ) -> None:
        """Settle inside the caller's transaction (once; later calls do nothing).

        With an ``Idempotency-Key``, a complete call stores ``result`` for retries in the
        same transaction; any other ending releases the key.
        """
        if self.settled:
            return
        rows = self.records(ending, message_id)
        await service.settle(session=session, reservation=self.reservation, records=rows)
        if self.claim is not None:
            if ending.status is CallStatus.COMPLETE and result is not None:
                await idempotency.finish_in(session, self.claim, result)
            else:
                await idempotency.release_in(session, self.claim)
        self.settled = True
        for row in rows:
            self.metrics.provider_calls.labels(provider=row.provider, status=row.status).inc()

    async def settle(self, ending: Ending, *, result: idempotency.Result | None = None) -> None:
        """Settle in a transaction of its own."""
        if self.settled:
            return
        async with self.db.transaction() as session:
            await self.settle_in(session, ending, result=result)
