"""One metered model call: its reservation, and the ledger rows it settles into.

Created before the provider is called (after the reservation), settled exactly once
whatever happens to the call: complete, failed, streamed, cut off or abandoned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.llm.types import Usage
from secure_chat_api.core.database import transaction
from secure_chat_api.core.metrics import Metrics
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.llm.fallback import TrackedChain
from secure_chat_api.usage import service
from secure_chat_api.usage.models import CallStatus, UsageRecord


@dataclass
class Meter:
    db: Database
    metrics: Metrics
    chain: TrackedChain
    reservation: service.Reservation
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    request_id: str | None
    route: Literal["chat", "gateway"]
    conversation_id: uuid.UUID | None = None
    claim: idempotency.Claim | None = None  # the call's Idempotency-Key, if it has one
    settled: bool = field(default=False, init=False)

    def records(
        self,
        *,
        status: CallStatus,
        usage: Usage,
        usage_estimated: bool = False,
        error_type: str | None = None,
        message_id: uuid.UUID | None = None,
        interrupted: bool = False,
    ) -> list[UsageRecord]:
        """A row per failed attempt before the last, and one for how the call ended."""
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
        attempts = self.chain.attempts
        final_index = self.chain.final_index(interrupted=interrupted)
        final = self.chain.targets[final_index]
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
            for index, attempt in enumerate(attempts[:final_index])
        ]
        provider, model = final.provider.name, final.model
        rows.append(
            UsageRecord(
                **common,
                provider=provider,
                model=model,
                attempt=final_index,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                usage_estimated=usage_estimated,
                cost_micro_usd=service.call_cost_micro(provider, model, usage),
                status=status.value,
                error_type=error_type,
            )
        )
        return rows

    async def settle_in(
        self,
        session: AsyncSession,
        *,
        status: CallStatus,
        usage: Usage,
        usage_estimated: bool = False,
        error_type: str | None = None,
        message_id: uuid.UUID | None = None,
        interrupted: bool = False,
        result: idempotency.Result | None = None,
    ) -> None:
        """Settle inside the caller's transaction (once; later calls do nothing).

        With an ``Idempotency-Key``, a complete call stores ``result`` for retries in the
        same transaction; any other ending releases the key.
        """
        if self.settled:
            return
        rows = self.records(
            status=status,
            usage=usage,
            usage_estimated=usage_estimated,
            error_type=error_type,
            message_id=message_id,
            interrupted=interrupted,
        )
        await service.settle(session=session, reservation=self.reservation, records=rows)
        if self.claim is not None:
            if status is CallStatus.COMPLETE and result is not None:
                await idempotency.finish_in(session, self.claim, result)
            else:
                await idempotency.release_in(session, self.claim)
        self.settled = True
        for row in rows:
            self.metrics.provider_calls.labels(provider=row.provider, status=row.status).inc()

    async def settle(
        self,
        *,
        status: CallStatus,
        usage: Usage,
        usage_estimated: bool = False,
        error_type: str | None = None,
        interrupted: bool = False,
        result: idempotency.Result | None = None,
    ) -> None:
        """Settle in a transaction of its own."""
        if self.settled:
            return
        async with transaction(self.db) as session:
            await self.settle_in(
                session,
                status=status,
                usage=usage,
                usage_estimated=usage_estimated,
                error_type=error_type,
                interrupted=interrupted,
                result=result,
            )
