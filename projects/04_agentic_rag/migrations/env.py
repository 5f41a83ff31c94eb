"""Alembic environment for project 04 (async; SQLite and PostgreSQL)."""

from logging.config import fileConfig

from alembic import context

import agentic_rag.agent.models
import agentic_rag.api_keys.models
import agentic_rag.auth.models
import agentic_rag.chat.models
import agentic_rag.idempotency.models
import agentic_rag.ingest.models
import agentic_rag.rag.models
import agentic_rag.usage.models
import agentic_rag.users.models  # noqa: F401 - register the tables on Base.metadata
from agentic_rag.core.config import get_settings
from agentic_rag.core.database import Base
from genai_shared.db.migrations import run_env

if context.config.config_file_name is not None and context.config.attributes.get(
    "configure_logger", True
):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env(context, Base.metadata, get_settings().database_url)
