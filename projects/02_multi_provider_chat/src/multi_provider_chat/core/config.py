"""Project 02 settings: the app's variables plus the providers' (``OPENAI_API_KEY`` ...).

``get_settings()`` is cached and never called at import time, so tests build their own
``Settings(...)`` and the app factory takes it as an argument.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic_settings import SettingsConfigDict

from genai_shared.chat.settings import ChatSettings
from genai_shared.llm.settings import ProviderSettings
from genai_shared.settings import BaseAppSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseAppSettings, ProviderSettings, ChatSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_name: str = "multi-provider-chat"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'multi_provider_chat.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def app_settings(request: Request) -> Settings:
    """The settings the running app was built with (not re-read from the environment)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
