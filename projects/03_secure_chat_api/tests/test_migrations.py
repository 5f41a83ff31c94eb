"""Alembic history against the models, from the shared contract."""

from __future__ import annotations

from pathlib import Path

from genai_shared.testing.contracts.migrations import MigrationsContract
from secure_chat_api.core.database import Base
from secure_chat_api.main import create_app  # noqa: F401 - registers every table on Base


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
            "budget_reservation",
        }
    )
