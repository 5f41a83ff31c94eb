"""Alembic history against the models, from the shared contract."""

from __future__ import annotations

from pathlib import Path

from genai_shared.testing.contracts.migrations import MigrationsContract
from multi_provider_chat.core.database import Base


class TestMigrations(MigrationsContract):
    alembic_ini = Path(__file__).resolve().parents[1] / "alembic.ini"
    metadata = Base.metadata
    tables = frozenset({"user", "conversation", "message"})
