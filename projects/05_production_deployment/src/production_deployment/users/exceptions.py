from __future__ import annotations

from genai_shared.web.errors import Conflict, NotFound


class UserNotFound(NotFound):
    message = "User not found"


class EmailAlreadyRegistered(Conflict):
    message = "A user with this email already exists"
