"""Alembic: the history applies, reverses and re-applies, and matches the models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from secure_chat_api.core.database import Base
from secure_chat_api.main import create_app  # noqa: F401 - registers every table on Base

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
TABLES = {
    "user",
    "refresh_token",
    "api_key",
    "conversation",
    "message",
    "usage_record",
    "user_spend",
    "idempotency_key",
    "budget_reservation",
}


def _config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    return config


async def _state(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:

        def inspect_sync(sync_conn):  # type: ignore[no-untyped-def]
            tables = set(inspect(sync_conn).get_table_names()) - {"alembic_version"}
            diff = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata)
            return tables, diff

        result = await conn.run_sync(inspect_sync)
    await engine.dispose()
    return result


async def _round_trip(url: str) -> None:
    config = _config(url)
    # Alembic's env.py runs its own event loop: call it from a worker thread.
    await asyncio.to_thread(command.upgrade, config, "head")
    tables, diff = await _state(url)
    assert tables == TABLES
    assert diff == [], f"models and migrations disagree: {diff}"

    await asyncio.to_thread(command.downgrade, config, "base")
    tables, _ = await _state(url)
    assert tables == set()

    await asyncio.to_thread(command.upgrade, config, "head")
    tables, diff = await _state(url)
    assert tables == TABLES
    assert diff == []


async def test_round_trip_on_sqlite(sqlite_url):
    await _round_trip(sqlite_url)


@pytest.mark.integration
async def test_round_trip_on_postgresql(postgres_url):
    await _round_trip(postgres_url)
    await asyncio.to_thread(command.downgrade, _config(postgres_url), "base")


def test_offline_sql_is_generated(capsys):
    command.upgrade(_config("postgresql+asyncpg://u@h/db"), "head", sql=True)
    sql = capsys.readouterr().out
    assert 'CREATE TABLE "user"' in sql
    assert "ON DELETE CASCADE" in sql
