"""The usage ledger, GET /usage, and budgets (reserved before the call, settled after),
from the shared contract, on project 04's tables."""

from __future__ import annotations

from agentic_rag.chat.models import Message
from agentic_rag.usage import service as usage_service
from agentic_rag.usage.models import UsageRecord, UserSpend
from agentic_rag.users.models import User
from genai_shared.testing.contracts import usage


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
