"""Budgets and the usage ledger in this app's tables: the behaviour lives in
``genai_shared.usage.service``; this module binds it to the models, under the names the
chat, gateway, admin and usage modules import. Functions never commit."""

from __future__ import annotations

from agentic_rag.idempotency import service as idempotency
from agentic_rag.usage.models import BudgetReservation, UsageRecord, UserSpend
from agentic_rag.users.models import User
from genai_shared.usage.service import (
    INPUT_MARGIN,
    INPUT_OVERHEAD_TOKENS,
    Ledger,
    LedgerRow,
    Reservation,
    UsageRow,
    call_cost_micro,
    period_of,
    since,
    worst_case_micro,
)
from genai_shared.usage.service import Meter as SharedMeter

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
budget_status = ledger.budget_status
usage_by_day = ledger.usage_by_day


class Meter(SharedMeter[Reservation]):
    """One metered model call, settled into this app's ledger."""

    ledger = ledger
    keys = idempotency.keys


__all__ = [
    "INPUT_MARGIN",
    "INPUT_OVERHEAD_TOKENS",
    "LedgerRow",
    "Meter",
    "Reservation",
    "UsageRow",
    "budget_status",
    "call_cost_micro",
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
