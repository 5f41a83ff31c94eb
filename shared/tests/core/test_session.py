"""The transaction boundary: commit on success, roll back on error, after-commit hooks."""

from __future__ import annotations

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, new_metadata
from genai_shared.db.session import Database, after_commit


class Base(DeclarativeBase):
    metadata = new_metadata()


class Note(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "note"
    text: Mapped[str] = mapped_column(String(50))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def db(request, sqlite_url):
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await database.dispose()


async def _count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Note)) or 0)


async def test_commits_when_the_block_succeeds(db):
    async with db.transaction() as session:
        session.add(Note(text="kept"))
    assert await _count(db) == 1


async def test_rolls_back_when_the_block_raises(db):
    calls = []

    async def fail_after_writing() -> None:
        async with db.transaction() as session:
            session.add(Note(text="lost"))
            await session.flush()
            after_commit(session, lambda: calls.append("ran") or _noop())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_after_writing()
    assert await _count(db) == 0
    assert calls == [], "after-commit hooks never run on rollback"


async def _noop() -> None:
    return None


async def test_after_commit_runs_after_the_data_is_visible(db):
    seen: list[int] = []

    async def check() -> None:
        seen.append(await _count(db))  # a separate connection sees the committed row

    async with db.transaction() as session:
        session.add(Note(text="x"))
        after_commit(session, check)
    assert seen == [1]


async def test_a_failing_hook_does_not_undo_the_commit(db, caplog):
    async def broken() -> None:
        raise ConnectionError("cache down")

    async with db.transaction() as session:
        session.add(Note(text="x"))
        after_commit(session, broken)
    assert await _count(db) == 1
    assert "after-commit callback failed" in caplog.text


async def test_ping(db):
    await db.ping()
