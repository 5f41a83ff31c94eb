from __future__ import annotations

from genai_shared.web.errors import AppError


class BudgetExceeded(AppError):
    status_code = 402
    message = (
        "This call could cost more than what is left of your monthly budget; "
        "ask for fewer max_tokens, or wait for next month"
    )
