"""Alembic history against the models, from the shared contract."""

from __future__ import annotations

from pathlib import Path

from chat_api_with_db.core.database import Base
from genai_shared.testing.contracts.migrations import MigrationsContract


class TestMigrations(MigrationsContract):
    alembic_ini = Path(__file__).resolve().parents[1] / "alembic.ini"
    metadata = Base.metadata
    tables = frozenset({"user", "conversation", "message"})
