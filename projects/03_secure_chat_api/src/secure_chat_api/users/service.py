"""User operations. Functions take the session and never commit: the request owns that."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from secure_chat_api.users.exceptions import EmailAlreadyRegistered
from secure_chat_api.users.models import User
from secure_chat_api.users.schemas import UserCreate


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None."""
    return await session.get(User, user_id)


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def create(*, session: AsyncSession, data: UserCreate) -> User:
    """Create a user; emails are unique case-insensitively (stored lower-cased)."""
    email = data.email.lower()
    if await get_by_email(session=session, email=email) is not None:
        raise EmailAlreadyRegistered(details=[{"loc": ["body", "email"]}])
    user = User(email=email, display_name=data.display_name)
    session.add(user)
    await session.flush()  # a concurrent duplicate fails here: the handler answers 409
    return user
