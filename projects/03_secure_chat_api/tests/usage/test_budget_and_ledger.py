"""The usage ledger, GET /usage, and budgets (reserved before the call, settled after),
from the shared contract, on project 03's tables."""

from __future__ import annotations

from genai_shared.testing.contracts import usage
from secure_chat_api.chat.models import Message
from secure_chat_api.usage import service as usage_service
from secure_chat_api.usage.models import UsageRecord, UserSpend
from secure_chat_api.users.models import User


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
