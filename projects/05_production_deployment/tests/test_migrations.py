"""Alembic history against the models, from the shared contract, and project 05's schema.

Project 05's own lesson here: its security and metering rest on the database, so the
migrated schema (not ``create_all``) must carry what they need: the unique constraints
that make an API-key prefix, a refresh token and an Idempotency-Key claim one of a kind,
the indexes its lookups and sweeper use, rows that go with their user, and, served by the
app, a whole signed-in, keyed, metered, idempotent, rotating session must work on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from genai_shared.testing.contracts.migrations import MigrationsContract
from production_deployment.core.database import Base
from production_deployment.main import create_app  # noqa: F401 - registers every table on Base


class TestMigrations(MigrationsContract):
    alembic_ini = Path(__file__).resolve().parents[1] / "alembic.ini"
    metadata = Base.metadata
    tables = frozenset(
        {
            "user",
            "refresh_token",
            "api_key",
            "conversation",
            "message",
            "usage_record",
            "user_spend",
            "idempotency_key",
            "collection",
            "document",
            "chunk",
            "ingest_job",
            "agent_run",
            "tool_execution",
            "budget_reservation",
        }
    )


# The indexes project 05 keeps from 04, by name, with their columns.
INDEXES = {
    "refresh_token": {"ix_refresh_token_family_id": ["family_id"]},  # revoke a family
    "api_key": {"ix_api_key_user_id_created_at": ["user_id", "created_at"]},
    "usage_record": {
        "ix_usage_record_user_id_day": ["user_id", "day"],  # GET /usage
        "ix_usage_record_day": ["day"],  # GET /admin/usage
    },
    "budget_reservation": {"ix_budget_reservation_created_at": ["created_at"]},  # the sweeper
    "idempotency_key": {"ix_idempotency_key_expires_at": ["expires_at"]},  # the sweeper
}
# What must be one of a kind, whatever the constraint's name.
UNIQUE = {
    "user": [["email"]],
    "refresh_token": [["token_hash"]],
    "api_key": [["prefix"]],
    "idempotency_key": [["user_id", "key"]],  # what makes claiming a key atomic
}
OWNED_BY_A_USER = ["refresh_token", "api_key", "usage_record", "idempotency_key"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def migrated_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database built by ``alembic upgrade head`` alone; taken down to base afterwards."""
    url = request.getfixturevalue(f"{request.param}_url")
    config = TestMigrations()._config(url)
    await asyncio.to_thread(command.upgrade, config, "head")
    try:
        yield url
    finally:
        await asyncio.to_thread(command.downgrade, config, "base")


async def _inspect(url: str) -> dict[str, dict[str, Any]]:
    def read(sync_conn: Connection) -> dict[str, dict[str, Any]]:
        inspector = inspect(sync_conn)
        return {
            table: {
                "indexes": inspector.get_indexes(table),
                "unique": inspector.get_unique_constraints(table),
                "foreign_keys": inspector.get_foreign_keys(table),
            }
            for table in inspector.get_table_names()
        }

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_the_migrated_schema_has_project_04s_indexes_and_constraints(
    migrated_url: str,
) -> None:
    """A model and migration that both dropped one would pass the contract, not this."""
    schema = await _inspect(migrated_url)
    for table, expected in INDEXES.items():
        indexes = {i["name"]: i["column_names"] for i in schema[table]["indexes"]}
        for name, columns in expected.items():
            assert indexes.get(name) == columns, (table, name, indexes)
    for table, expected_sets in UNIQUE.items():
        unique = [u["column_names"] for u in schema[table]["unique"]]
        unique += [i["column_names"] for i in schema[table]["indexes"] if i["unique"]]
        for columns in expected_sets:
            assert sorted(columns) in [sorted(u) for u in unique], (table, unique)
    for table in OWNED_BY_A_USER:
        (fk,) = [f for f in schema[table]["foreign_keys"] if f["referred_table"] == "user"]
        assert fk["constrained_columns"] == ["user_id"], (table, fk)
        assert (fk["options"].get("ondelete") or "").upper() == "CASCADE", (table, fk)


async def test_the_app_serves_a_metered_session_on_the_migrated_schema(
    migrated_url: str, app_factory, asgi_client, signup, expect_error
) -> None:
    """Sign up, key, chat with an Idempotency-Key, retry, read the ledger, rotate the token.

    Every table of project 04 is written and read through the API, on tables only
    ``alembic upgrade head`` made: a column or constraint the migrations got wrong fails here.
    """
    app = app_factory(database_url=migrated_url)
    async with asgi_client(app) as anon:
        account = await signup(anon, "migrated@example.com")
        created = await anon.post("/api/v1/api-keys", json={"name": "cli"}, headers=account.headers)
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['key']}"}

        conversation = await anon.post("/api/v1/conversations", json={"title": "t"}, headers=key)
        assert conversation.status_code == 201, conversation.text
        path = f"/api/v1/conversations/{conversation.json()['id']}/chat"
        turn = {**key, "Idempotency-Key": "migrated-1"}
        first = await anon.post(path, json={"content": "hello"}, headers=turn)
        assert first.status_code == 201, first.text
        again = await anon.post(path, json={"content": "hello"}, headers=turn)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()

        usage = (await anon.get("/api/v1/usage", headers=key)).json()
        assert [(d["provider"], d["calls"]) for d in usage["days"]] == [("mock", 1)]
        assert usage["budget"]["reserved_usd"] == "0.000000"

        old = account.tokens["refresh_token"]
        rotated = await anon.post("/api/v1/auth/refresh", json={"refresh_token": old})
        assert rotated.status_code == 200, rotated.text
        reused = await anon.post("/api/v1/auth/refresh", json={"refresh_token": old})
        expect_error(reused, 401, "InvalidRefreshToken")
