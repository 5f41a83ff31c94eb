"""The usage ledger, GET /usage, and budgets (reserved before the call, settled after),
from the shared contract, on project 05's tables."""

from __future__ import annotations

from genai_shared.testing.contracts import usage
from production_deployment.chat.models import Message
from production_deployment.usage import service as usage_service
from production_deployment.usage.models import UsageRecord, UserSpend
from production_deployment.users.models import User


class _Project:
    usage_service = usage_service
    message_model = Message
    user_model = User
    usage_record_model = UsageRecord
    user_spend_model = UserSpend


class TestLedger(_Project, usage.LedgerContract):
    pass


class TestBudget(_Project, usage.BudgetContract):
    pass
