"""This app's usage ledger and budget tables; their columns are ``genai_shared.usage``'s."""

from __future__ import annotations

from agentic_rag.core.database import Base
from genai_shared.usage.models import (
    BudgetReservationColumns,
    UsageRecordColumns,
    UserSpendColumns,
)


class UsageRecord(UsageRecordColumns, Base):
    """The ledger: one row per provider call, whatever became of it."""

    __tablename__ = "usage_record"


class BudgetReservation(BudgetReservationColumns, Base):
    """The worst-case cost of one call in flight, until it settles or is swept."""

    __tablename__ = "budget_reservation"


class UserSpend(UserSpendColumns, Base):
    """A user's spend in one calendar month (UTC): settled, and reserved by calls in flight."""

    __tablename__ = "user_spend"
