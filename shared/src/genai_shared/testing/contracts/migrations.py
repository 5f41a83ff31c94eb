"""Alembic: the history applies, reverses and re-applies, and matches the models.

Fixtures: ``sqlite_url``, ``postgres_url`` and ``capsys``, nothing from a project's conftest.

Class attributes a subclass sets:

- ``alembic_ini``: the project's ``alembic.ini``.
- ``metadata``: the project's ``Base.metadata`` with every model imported, so that a table
  the migrations forgot, or one they add and no model declares, fails the comparison.
- ``tables``: the names the history creates (``alembic_version`` aside).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine


class MigrationsContract:
    """A database built by the migrations is the one the models describe, both ways."""

    alembic_ini: ClassVar[Path]
    metadata: ClassVar[MetaData]
    tables: ClassVar[frozenset[str]]

    def _config(self, url: str) -> Config:
        config = Config(str(self.alembic_ini))
        config.set_main_option("sqlalchemy.url", url)
        config.attributes["configure_logger"] = False
        return config

    async def _state(self, url: str) -> tuple[set[str], list[Any]]:
        """The tables in the database, and how they differ from the models."""

        def inspect_sync(sync_conn: Connection) -> tuple[set[str], list[Any]]:
            tables = set(inspect(sync_conn).get_table_names()) - {"alembic_version"}
            diff = compare_metadata(MigrationContext.configure(sync_conn), self.metadata)
            return tables, diff

        engine = create_async_engine(url)
        async with engine.connect() as conn:
            result = await conn.run_sync(inspect_sync)
        await engine.dispose()
        return result

    async def _round_trip(self, url: str) -> None:
        config = self._config(url)
        # Alembic's env.py runs its own event loop: call it from a worker thread.
        await asyncio.to_thread(command.upgrade, config, "head")
        tables, diff = await self._state(url)
        assert tables == self.tables
        assert diff == [], f"models and migrations disagree: {diff}"

        await asyncio.to_thread(command.downgrade, config, "base")
        tables, _ = await self._state(url)
        assert tables == set()

        await asyncio.to_thread(command.upgrade, config, "head")
        tables, diff = await self._state(url)
        assert tables == self.tables
        assert diff == []

    async def test_round_trip_on_sqlite(self, sqlite_url: str) -> None:
        await self._round_trip(sqlite_url)

    @pytest.mark.integration
    async def test_round_trip_on_postgresql(self, postgres_url: str) -> None:
        await self._round_trip(postgres_url)
        await asyncio.to_thread(command.downgrade, self._config(postgres_url), "base")

    def test_offline_sql_is_generated(self, capsys: pytest.CaptureFixture[str]) -> None:
        command.upgrade(self._config("postgresql+asyncpg://u@h/db"), "head", sql=True)
        sql = capsys.readouterr().out
        assert 'CREATE TABLE "user"' in sql
        assert "ON DELETE CASCADE" in sql
