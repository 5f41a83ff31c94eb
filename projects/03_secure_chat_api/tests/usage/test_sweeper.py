"""The reservation sweeper, from the shared contract, on project 03's tables: budget
held by a call whose process died comes back, once."""

from __future__ import annotations

from genai_shared.testing.contracts import usage
from secure_chat_api.idempotency.models import IdempotencyKey
from secure_chat_api.usage import service as usage_service
from secure_chat_api.usage import sweeper
from secure_chat_api.usage.models import BudgetReservation, UsageRecord, UserSpend
from secure_chat_api.users.models import User


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
