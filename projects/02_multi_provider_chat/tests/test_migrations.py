"""Alembic history: the shared contract (it matches the models, both ways), then the
columns project 02 adds to a message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from genai_shared.testing.contracts.migrations import MigrationsContract
from multi_provider_chat.chat.models import Conversation, Message
from multi_provider_chat.core.database import Base
from multi_provider_chat.users.models import User


class TestMigrations(MigrationsContract):
    alembic_ini = Path(__file__).resolve().parents[1] / "alembic.ini"
    metadata = Base.metadata
    tables = frozenset({"user", "conversation", "message"})


async def test_a_reply_records_the_call_that_made_it(sqlite_url: str) -> None:
    """The message table keeps who answered, the usage and cost, and how the reply ended;
    the database refuses a status the app does not know."""
    config = Config(str(TestMigrations.alembic_ini))
    config.set_main_option("sqlalchemy.url", sqlite_url)
    config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, config, "head")

    def columns(conn: Connection) -> set[str]:
        return {column["name"] for column in inspect(conn).get_columns("message")}

    engine = create_async_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(columns)
        assert {
            "status",
            "provider",
            "model",
            "input_tokens",
            "output_tokens",
            "usage_estimated",
            "cost_usd",
            "latency_ms",
            "finish_reason",
            "error_type",
            "provider_request_id",
        } <= names

        async with AsyncSession(engine) as session:
            user = User(email="a@example.com", display_name="A")
            session.add(user)
            await session.flush()
            conversation = Conversation(user_id=user.id, title="t", meta={})
            session.add(conversation)
            await session.flush()
            reply = {"conversation_id": conversation.id, "role": "assistant", "content": "x"}
            session.add(Message(**reply))
            await session.commit()  # the defaults make a complete reply
            session.add(Message(**reply, status="lost"))
            with pytest.raises(IntegrityError, match="status_is_known"):
                await session.commit()
    finally:
        await engine.dispose()
