"""Alembic environment for project 05 (async; SQLite and PostgreSQL)."""

from logging.config import fileConfig

from alembic import context

import production_deployment.agent.models
import production_deployment.api_keys.models
import production_deployment.auth.models
import production_deployment.chat.models
import production_deployment.idempotency.models
import production_deployment.ingest.models
import production_deployment.rag.models
import production_deployment.usage.models
import production_deployment.users.models  # noqa: F401 - register the tables on Base.metadata
from genai_shared.db.migrations import run_env
from production_deployment.core.config import get_settings
from production_deployment.core.database import Base

if context.config.config_file_name is not None and context.config.attributes.get(
    "configure_logger", True
):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env(context, Base.metadata, get_settings().database_url)
