"""The users domain's errors; each carries its HTTP status and names its type in the body."""

from __future__ import annotations

from genai_shared.web.errors import Conflict, NotFound


class UserNotFound(NotFound):
    message = "User not found"


class EmailAlreadyRegistered(Conflict):
    message = "A user with this email already exists"
