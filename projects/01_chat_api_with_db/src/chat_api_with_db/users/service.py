"""User operations on project 01's ``User`` table. They never commit: the request does.

The one rule with a catch (an email is unique whatever its case) is the shared users
domain's ``create_user``: project 02 reuses it unchanged, so it is written once.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from chat_api_with_db.users.models import User
from chat_api_with_db.users.schemas import UserCreate
from genai_shared.users import service as users_service


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None (a primary-key lookup: the session's identity map
    answers it without a query when the user is already loaded)."""
    return await session.get(User, user_id)


async def create(*, session: AsyncSession, data: UserCreate) -> User:
    """Create a user; a taken email, in any case, is a 409 ``EmailAlreadyRegistered``."""
    return await users_service.create_user(session=session, model=User, data=data)
