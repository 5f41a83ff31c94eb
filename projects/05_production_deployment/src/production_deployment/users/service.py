"""User operations. Functions take the session and never commit: the request owns that."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from production_deployment.core.money import to_micro
from production_deployment.users.exceptions import EmailAlreadyRegistered
from production_deployment.users.models import Role, User
from production_deployment.users.schemas import AdminUserUpdate, UserCreate, UserUpdate


async def get(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None."""
    return await session.get(User, user_id)


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def create(
    *, session: AsyncSession, data: UserCreate, password_hash: str, budget_usd: Decimal
) -> User:
    """Create a user with the default role and budget; emails are unique case-insensitively."""
    email = data.email.lower()
    if await get_by_email(session=session, email=email) is not None:
        raise EmailAlreadyRegistered(details=[{"loc": ["body", "email"]}])
    user = User(
        email=email,
        display_name=data.display_name,
        password_hash=password_hash,
        role=Role.USER.value,
        is_active=True,
        monthly_budget_micro_usd=to_micro(budget_usd),
    )
    session.add(user)
    await session.flush()  # a concurrent duplicate fails here: the handler answers 409
    return user


async def update_profile(*, session: AsyncSession, user: User, data: UserUpdate) -> User:
    """Apply the fields a user may change about themselves."""
    if data.display_name is not None:
        user.display_name = data.display_name
        user.updated_at = utcnow()
        await session.flush()
    return user


async def admin_update(*, session: AsyncSession, user: User, data: AdminUserUpdate) -> User:
    """Apply an admin's change of role, budget or activity."""
    if data.role is not None:
        user.role = data.role.value
    if data.monthly_budget_usd is not None:
        user.monthly_budget_micro_usd = to_micro(data.monthly_budget_usd)
    if data.is_active is not None:
        user.is_active = data.is_active
    user.updated_at = utcnow()
    await session.flush()
    return user


async def list_users(*, session: AsyncSession, limit: int, after_email: str | None) -> list[User]:
    """Users ordered by email, ``limit + 1`` rows so the caller can tell if there are more."""
    query = select(User).order_by(User.email).limit(limit + 1)
    if after_email is not None:
        query = query.where(User.email > after_email)
    return list(await session.scalars(query))
