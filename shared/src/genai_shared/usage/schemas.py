from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from genai_shared.schemas import CustomModel


class UsageLine(CustomModel):
    day: date
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class UserUsageLine(UsageLine):
    user_id: uuid.UUID


class BudgetStatus(CustomModel):
    period: str
    budget_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal


class UsageReport(CustomModel):
    """Your calls by day and model, and this month's budget."""

    budget: BudgetStatus
    days: list[UsageLine]


class AdminUsageReport(CustomModel):
    """Every user's calls by day and model."""

    since: date
    total_cost_usd: Decimal
    days: list[UserUsageLine]
