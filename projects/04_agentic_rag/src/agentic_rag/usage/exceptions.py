"""The budget error, shared by every project (see ``genai_shared.usage``)."""

from __future__ import annotations

from genai_shared.usage.exceptions import BudgetExceeded

__all__ = ["BudgetExceeded"]
