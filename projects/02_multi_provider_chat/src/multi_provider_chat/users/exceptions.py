"""The users domain's errors: project 01's, from ``genai_shared.users`` unchanged."""

from __future__ import annotations

from genai_shared.users.exceptions import EmailAlreadyRegistered, UserNotFound

__all__ = ["EmailAlreadyRegistered", "UserNotFound"]
