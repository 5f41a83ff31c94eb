"""The users API's bodies: ``UserCreate`` in, ``UserPublic`` out (never more than a user
may see). Project 02 serves the same API, so the family is written once, in
``genai_shared.users.schemas``; this module is where this domain's code finds them."""

from __future__ import annotations

from genai_shared.users.schemas import UserCreate, UserPublic

__all__ = ["UserCreate", "UserPublic"]
