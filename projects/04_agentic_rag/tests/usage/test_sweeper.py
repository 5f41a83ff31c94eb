"""The reservation sweeper, from the shared contract, on project 04's tables: budget
held by a call whose process died comes back, once."""

from __future__ import annotations

from agentic_rag.idempotency.models import IdempotencyKey
from agentic_rag.usage import service as usage_service
from agentic_rag.usage import sweeper
from agentic_rag.usage.models import BudgetReservation, UsageRecord, UserSpend
from agentic_rag.users.models import User
from genai_shared.testing.contracts import usage


class _Project:
    usage_service = usage_service
    sweeper = sweeper
    user_model = User
    usage_record_model = UsageRecord
    user_spend_model = UserSpend
    budget_reservation_model = BudgetReservation
    idempotency_key_model = IdempotencyKey


class TestSweeper(_Project, usage.SweeperContract):
    pass


class TestInTheApp(_Project, usage.SweeperInTheAppContract):
    pass
