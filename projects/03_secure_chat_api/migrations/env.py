"""Alembic environment for project 03 (async; SQLite and PostgreSQL)."""

from logging.config import fileConfig

from alembic import context

import secure_chat_api.api_keys.models
import secure_chat_api.auth.models
import secure_chat_api.chat.models
import secure_chat_api.idempotency.models
import secure_chat_api.usage.models
import secure_chat_api.users.models  # noqa: F401 - register the tables on Base.metadata
from genai_shared.db.migrations import run_env
from secure_chat_api.core.config import get_settings
from secure_chat_api.core.database import Base

if context.config.config_file_name is not None and context.config.attributes.get(
    "configure_logger", True
):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_env(context, Base.metadata, get_settings().database_url)
