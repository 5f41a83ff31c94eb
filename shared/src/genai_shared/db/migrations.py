"""The body of every project's Alembic env.py: async engine, offline SQL, SQLite batch mode."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from genai_shared.settings import normalize_database_url


def _configure(context: Any, connection: Connection | None, url: str, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=metadata,
        render_as_batch=url.startswith("sqlite"),  # SQLite alters tables by copying them
        compare_type=True,
        literal_binds=connection is None,
    )


def run_env(context: Any, metadata: MetaData, default_url: str) -> None:
    """Run migrations online (async engine) or offline (``alembic upgrade --sql``).

    The URL comes from, in order: ``-x url=...``, ``sqlalchemy.url`` set on the Config by
    the caller (tests), then the project's settings (``DATABASE_URL``).
    """
    url = normalize_database_url(
        context.get_x_argument(as_dictionary=True).get("url")
        or context.config.get_main_option("sqlalchemy.url")
        or default_url
    )
    if context.is_offline_mode():
        _configure(context, None, url, metadata)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        _configure(context, connection, url, metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
