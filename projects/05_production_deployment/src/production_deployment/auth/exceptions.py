from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genai_shared.web.errors import AppError, Forbidden, Unauthorized


class NotAuthenticated(Unauthorized):
    """No credential, or one that is not valid now. Never says which check failed."""

    message = "Missing or invalid credentials"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            message, details=details, headers={"WWW-Authenticate": "Bearer", **(headers or {})}
        )


class InvalidLogin(NotAuthenticated):
    message = "Incorrect email or password"


class InvalidRefreshToken(NotAuthenticated):
    message = "The refresh token is not valid"


class InsufficientScope(Forbidden):
    message = "This API key does not have the scope this call needs"


class LoginRequired(Forbidden):
    message = "This call needs a signed-in user (an access token), not an API key"


class AdminRequired(Forbidden):
    message = "This call is for administrators"


class AuthUnavailable(AppError):
    status_code = 503
    message = "Authentication is temporarily unavailable"
