"""Alembic history: the shared contract (it matches the models, both ways), then the
schema choices project 01 makes for its queries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from chat_api_with_db.core.database import Base
from genai_shared.testing.contracts.migrations import MigrationsContract

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


class TestMigrations(MigrationsContract):
    alembic_ini = ALEMBIC_INI
    metadata = Base.metadata
    tables = frozenset({"user", "conversation", "message"})


async def migrated_schema(url: str) -> dict[str, Any]:
    """Upgrade an empty database to head, then read back its indexes and foreign keys."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, config, "head")

    def read(conn: Connection) -> dict[str, Any]:
        inspector = inspect(conn)
        return {
            "indexes": {
                table: {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
                for table in ("conversation", "message")
            },
            "message_fks": inspector.get_foreign_keys("message"),
            "conversation_fks": inspector.get_foreign_keys("conversation"),
        }

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_each_list_query_has_an_index_in_its_order(sqlite_url: str) -> None:
    """``WHERE owner = ? ORDER BY created_at, id``: one range scan of a composite index."""
    schema = await migrated_schema(sqlite_url)
    conversation_index = schema["indexes"]["conversation"]["ix_conversation_user_id_created_at_id"]
    message_index = schema["indexes"]["message"]["ix_message_conversation_id_created_at_id"]
    assert conversation_index == ["user_id", "created_at", "id"]
    assert message_index == ["conversation_id", "created_at", "id"]


async def test_deleting_a_user_or_a_conversation_cascades(sqlite_url: str) -> None:
    schema = await migrated_schema(sqlite_url)
    for key, parent in (("message_fks", "conversation"), ("conversation_fks", "user")):
        (foreign_key,) = schema[key]
        assert foreign_key["referred_table"] == parent
        assert foreign_key["options"].get("ondelete") == "CASCADE"
