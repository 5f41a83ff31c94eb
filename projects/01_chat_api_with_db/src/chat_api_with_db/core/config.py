"""Project 01 settings: environment variables with their conventional names.

``get_settings()`` is cached and never called at import time, so tests build their own
``Settings(...)`` and the app factory takes it as an argument.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from genai_shared.settings import BaseAppSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseAppSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_name: str = "chat-api-with-db"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'chat_api_with_db.db'}"
    recent_conversations_limit: int = 20


@lru_cache
def get_settings() -> Settings:
    return Settings()
