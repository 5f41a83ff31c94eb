"""Project 05 settings: project 04's (accounts, tokens, limits, budgets, retrieval,
ingestion and the agent, each in its own domain's ``config.py``), plus how it is served.

``get_settings()`` is cached and never called at import time, so tests build their own
``Settings(...)`` and the app factory takes it as an argument.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from genai_shared.llm.settings import ProviderSettings
from genai_shared.settings import BaseAppSettings
from production_deployment.agent.config import AgentSettings
from production_deployment.ingest.config import IngestSettings
from production_deployment.rag.config import RagSettings
from production_deployment.serving.config import ServingSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(
    BaseAppSettings,
    ProviderSettings,
    RagSettings,
    IngestSettings,
    AgentSettings,
    ServingSettings,
):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_name: str = "production-deployment"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'production_deployment.db'}"
    chat_history_messages: int = Field(
        default=50, ge=1, le=500, description="How many earlier messages a chat turn sends"
    )
    chat_max_tokens_cap: int = Field(
        default=4096, ge=1, description="The largest max_tokens a caller may ask for"
    )
    gateway_max_messages: int = Field(
        default=200, ge=1, description="The most messages one /v1 request may carry"
    )
    max_request_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger request bodies are refused with 413"
    )

    # Tokens. SECRET_KEY (from BaseAppSettings) signs access tokens and keys API-key hashes.
    jwt_issuer: str = "production-deployment"
    jwt_audience: str = "production-deployment"
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

    # The hot path (usage/redis_metering.py, auth/key_cache.py).
    metering_backend: Literal["database", "redis"] = Field(
        default="database",
        description=(
            "redis: rate limit and budget in one Redis round trip, the ledger written to "
            "PostgreSQL behind the request in batches (needs REDIS_URL)"
        ),
    )
    ledger_batch_size: int = Field(default=500, ge=1, le=5000)
    ledger_flush_interval_seconds: float = Field(
        default=0.25,
        ge=0,
        le=60,
        description="The ledger writer's pause between batches (rows wait in Redis meanwhile)",
    )
    ledger_claim_idle_seconds: float = Field(
        default=30.0, gt=0, description="A batch unacknowledged this long is another's to write"
    )
    api_key_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=1.0,
        description="How long a verified API key is trusted without the database (0: never)",
    )

    # Observability.
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics needs Authorization: Bearer <it>"
    )

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _production_needs(self) -> Settings:
        """What a production deployment cannot do without: refused at start, all at once."""
        problems = self.production_problems() if self.environment == "production" else []
        if self.web_concurrency > 1:
            problems += self.multi_worker_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        problems = []
        if self.is_sqlite:
            problems.append("DATABASE_URL must be PostgreSQL in production, not SQLite")
        if self.redis_url is None:
            problems.append("REDIS_URL must be set in production (rate limits, queue, cache)")
        if self.metrics_token is None:
            problems.append("METRICS_TOKEN must be set in production (/metrics is protected)")
        return problems

    @model_validator(mode="after")
    def _redis_metering_needs_redis(self) -> Settings:
        if self.metering_backend == "redis" and self.redis_url is None:
            raise ValueError("METERING_BACKEND=redis needs REDIS_URL")
        return self

    def multi_worker_problems(self) -> list[str]:
        problems = []
        if self.vector_store == "qdrant" and self.qdrant_url is None:
            problems.append(
                "WEB_CONCURRENCY > 1 needs QDRANT_URL or VECTOR_STORE=pgvector: embedded "
                "Qdrant serves one process"
            )
        if self.prometheus_multiproc_dir is None:
            problems.append(
                "WEB_CONCURRENCY > 1 needs PROMETHEUS_MULTIPROC_DIR, or /metrics shows one "
                "worker's numbers"
            )
        return problems

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log and error redactor."""
        secrets = [self.secret_key.get_secret_value()]
        for value in (
            self.openai_api_key,
            self.anthropic_api_key,
            self.openrouter_api_key,
            self.metrics_token,
            self.sentry_dsn,
            self.qdrant_api_key,
        ):
            if value is not None:
                secrets.append(value.get_secret_value())
        return secrets


SECRETS_DIR_ENV = "SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def secrets_dir() -> Path | None:
    """Where secrets are read from as files, one per setting (``/run/secrets/secret_key``):
    ``SECRETS_DIR``, else ``/run/secrets`` when it exists (Docker and Kubernetes mount
    secrets there). An environment variable of the same name wins over the file."""
    configured = os.environ.get(SECRETS_DIR_ENV)
    if configured:
        return Path(configured)
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


@lru_cache
def get_settings() -> Settings:
    return Settings(_secrets_dir=secrets_dir())


class SettingsError(Exception):
    """The settings are invalid: ``str()`` says which and why, never with their values."""


def load_settings() -> Settings:
    """``get_settings()``, with a validation failure turned into a message a person can act
    on: one line per setting, named as its environment variable, without the value given
    (it may be a secret)."""
    try:
        return get_settings()
    except ValidationError as error:
        lines = []
        for problem in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message}" if where else f"  {message}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None


async def app_settings(request: Request) -> Settings:
    """The settings the running app was built with (not re-read from the environment)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
