"""Project 03 settings: project 02's, plus accounts, tokens, limits and budgets.

``get_settings()`` is cached and never called at import time, so tests build their own
``Settings(...)`` and the app factory takes it as an argument.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from genai_shared.chat.settings import ChatSettings
from genai_shared.llm.settings import ProviderSettings
from genai_shared.settings import BaseAppSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseAppSettings, ProviderSettings, ChatSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_name: str = "secure-chat-api"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'secure_chat_api.db'}"
    gateway_max_messages: int = Field(
        default=200, ge=1, description="The most messages one /v1 request may carry"
    )
    max_request_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger request bodies are refused with 413"
    )

    # Tokens. SECRET_KEY (from BaseAppSettings) signs access tokens and keys API-key hashes.
    jwt_issuer: str = "secure-chat-api"
    jwt_audience: str = "secure-chat-api"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Argon2id cost (OWASP's minimum: 19 MiB, 2 passes). Tests lower it to stay fast.
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19 * 1024, ge=8)

    # Rate limits: requests per user and route within a sliding window.
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    rate_limit_chat: int = Field(default=20, ge=1, description="Chat calls per window")
    rate_limit_default: int = Field(default=120, ge=1, description="Other calls per window")
    rate_limit_auth: int = Field(
        default=10, ge=1, description="Signup / login / refresh calls per window, per client IP"
    )

    # Budgets and idempotency.
    default_monthly_budget_usd: Decimal = Field(default=Decimal("5.00"), ge=0)
    budget_reservation_timeout_seconds: int = Field(
        default=3600,
        ge=60,
        description="A reservation this old belongs to a call whose process died: released",
    )
    budget_sweep_interval_seconds: float = Field(
        default=300, gt=0, description="How often each process looks for such reservations"
    )
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)

    # Observability.
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics needs Authorization: Bearer <it>"
    )

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def app_settings(request: Request) -> Settings:
    """The settings the running app was built with (not re-read from the environment)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
