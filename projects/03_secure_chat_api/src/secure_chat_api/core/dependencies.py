"""Request-scoped dependencies shared by the domains of this project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.cache import Cache
from genai_shared.db.session import Database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, else rolled back."""
    db: Database = request.app.state.db
    async for session in db.transaction():
        yield session


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


# scope="function": the commit happens before the response leaves, so a 201 is never sent
# for data that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CacheDep = Annotated[Cache, Depends(get_cache)]
