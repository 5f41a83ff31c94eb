"""Alembic environment for project 01 (async; SQLite and PostgreSQL)."""

from logging.config import fileConfig

from alembic import context

import chat_api_with_db.chat.models
import chat_api_with_db.users.models  # noqa: F401 - register the tables on Base.metadata
from chat_api_with_db.core.config import get_settings
from chat_api_with_db.core.database import Base
from genai_shared.db.migrations import run_env

if context.config.config_file_name is not None and context.config.attributes.get(
    "configure_logger", True
):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env(context, Base.metadata, get_settings().database_url)
