"""The request-scoped dependencies every project's routes use, as typed aliases.

A route names what it needs in its signature (``session: SessionDep``) and never reaches
into ``request.app.state`` itself: the lifespan publishes the resources there once
(``genai_shared.web.resources``), and these functions are the only readers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.cache import Cache
from genai_shared.db.session import Database
from genai_shared.settings import BaseAppSettings
from genai_shared.web.drain import Drain


# Trivial dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency
# in the threadpool, which costs a thread hop on every request for nothing.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def get_base_settings(request: Request) -> BaseAppSettings:
    """The app's settings as the shared base class (a project's own alias has its fields)."""
    settings: BaseAppSettings = request.app.state.settings
    return settings


async def get_drain(request: Request) -> Drain:
    """The app's drain state: set when the process has been told to stop."""
    drain: Drain = request.app.state.drain
    return drain


DatabaseDep = Annotated[Database, Depends(get_db)]
DrainDep = Annotated[Drain, Depends(get_drain)]
CacheDep = Annotated[Cache, Depends(get_cache)]
BaseSettingsDep = Annotated[BaseAppSettings, Depends(get_base_settings)]


async def get_session(db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, else rolled back."""
    async with db.transaction() as session:
        yield session


# scope="function": the commit happens before the response leaves, so a 201 is never sent
# for data that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
