"""The budget error, shared by every project (see ``genai_shared.usage``), and this
project's own: metering in Redis that cannot be reached."""

from __future__ import annotations

from genai_shared.usage.exceptions import BudgetExceeded
from genai_shared.web.errors import ServiceUnavailable

__all__ = ["BudgetExceeded", "MeteringUnavailable"]


class MeteringUnavailable(ServiceUnavailable):
    """Redis (``METERING_BACKEND=redis``) did not answer: the budget cannot be checked, so
    the call is refused (503) rather than let through unmetered."""

    message = "Usage metering is unavailable; retry shortly"
