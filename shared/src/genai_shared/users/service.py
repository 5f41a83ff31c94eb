"""Creating a user, over a project's own ``User`` model (``model``). Never commits: the
request's session owns the transaction."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.users.exceptions import EmailAlreadyRegistered
from genai_shared.users.models import UserColumns
from genai_shared.users.schemas import UserCreate

U = TypeVar("U", bound=UserColumns)


async def create_user(*, session: AsyncSession, model: type[U], data: UserCreate) -> U:
    """Create a user. The email is lower-cased first, so ``Ada@x`` and ``ada@x`` collide."""
    email = data.email.lower()
    if await session.scalar(select(model.id).where(model.email == email)) is not None:
        raise EmailAlreadyRegistered(details=[{"loc": ["body", "email"]}])
    user = model()
    user.email = email
    user.display_name = data.display_name
    session.add(user)
    # A concurrent request with the same email passes the check above and fails here, on
    # the unique constraint: the IntegrityError handler answers 409 all the same.
    await session.flush()
    return user
