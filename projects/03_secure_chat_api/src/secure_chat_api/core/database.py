"""This project's declarative base, and a transaction as an ``async with`` block."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from genai_shared.db.base import new_metadata
from genai_shared.db.session import Database


class Base(DeclarativeBase):
    metadata = new_metadata()


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[AsyncSession]:
    """``Database.transaction()`` as a context manager.

    An exception raised in the block is thrown into the transaction, so it rolls back
    and releases its connection at once (a bare ``async for`` would leave the generator
    suspended until garbage collection).
    """
    steps: AsyncGenerator[AsyncSession, None] = db.transaction()  # type: ignore[assignment]
    session = await anext(steps)
    try:
        yield session
    except BaseException as error:
        await steps.athrow(error)
        raise
    try:
        await anext(steps)
    except StopAsyncIteration:
        pass
    else:  # pragma: no cover - Database.transaction yields once
        raise RuntimeError("Database.transaction() yielded twice")
