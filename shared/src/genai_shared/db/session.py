"""Engine, sessions and the transaction boundary.

The request's session dependency owns the transaction: it commits when the endpoint
returned normally and rolls back when anything raised. Services only ``add`` and
``flush``. Work that must wait until the data is really committed (cache invalidation,
events) is registered with ``after_commit`` and runs right after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)
AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "genai_after_commit"


def _sqlite_pragmas(*, file: bool) -> Callable[[Any, Any], None]:
    """Per-connection settings SQLite needs to behave as a server's database."""

    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # SQLite ignores ON DELETE CASCADE unless foreign keys are switched on.
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer waits up to 5 s for another (a second worker) instead of failing at once.
        cursor.execute("PRAGMA busy_timeout=5000")
        if file:
            # Write-ahead log: readers never block the writer, and with synchronous=NORMAL
            # a commit needs no fsync (the log is synced at checkpoints). A power cut can
            # lose the last commits, never corrupt the file; without this every commit
            # costs several milliseconds of fsync.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return configure


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> AsyncEngine:
    """An async engine with the right pool and settings for the backend."""
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        in_memory = ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
        if in_memory:
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        engine = create_async_engine(url, echo=echo, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(file=not in_memory))
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


class Database:
    """One engine and its session factory, kept on ``app.state.db``."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """``async with db.transaction() as session:`` commits when the block ends normally
        and rolls back when anything is raised in it (the error goes on up), then runs the
        ``after_commit`` callbacks. The request's session dependency uses it, and so does
        every step that needs a transaction of its own (a chat turn's short steps)."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
            for callback in callbacks:
                try:
                    await callback()
                except Exception:
                    # The data is committed; a failed side effect must not turn it into a 500.
                    logger.exception("after-commit callback failed")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
