"""Project 02's users: project 01's domain unchanged (``genai_shared.users``) on this
project's own ``User`` table. Functions never commit: the request does."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from multi_provider_chat.users.models import User


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None (a conversation's owner must exist)."""
    return await session.get(User, user_id)
