"""Money as whole micro-dollars (USD * 1,000,000).

Budgets are checked with a conditional UPDATE in the database; integers make that check
exact on PostgreSQL and SQLite alike (SQLite has no exact decimal type). Costs round up,
so a budget is never overspent by rounding.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

MICRO = Decimal(1_000_000)


def to_micro(usd: Decimal) -> int:
    """USD to micro-dollars, rounded up."""
    return int((usd * MICRO).to_integral_value(rounding=ROUND_CEILING))


def from_micro(micro: int) -> Decimal:
    """Micro-dollars to USD (6 decimal places)."""
    return (Decimal(micro) / MICRO).quantize(Decimal("0.000001"))
