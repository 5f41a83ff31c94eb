"""The usage reports, shared by every project (see ``genai_shared.usage``)."""

from __future__ import annotations

from genai_shared.usage.schemas import (
    AdminUsageReport,
    BudgetStatus,
    UsageLine,
    UsageReport,
    UserUsageLine,
)

__all__ = ["AdminUsageReport", "BudgetStatus", "UsageLine", "UsageReport", "UserUsageLine"]
