"""Base settings every project extends.

Twelve-factor configuration: every value comes from an environment variable with its
conventional name (``DATABASE_URL``, ``REDIS_URL``, ``PORT`` ...). Nothing is read at import
time: each project exposes a cached ``get_settings()`` and tests build settings objects
explicitly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - refused outside dev
MIN_SECRET_KEY_LENGTH = 32
Environment = Literal["development", "test", "staging", "production"]


def normalize_database_url(url: str) -> str:
    """Accept the URL forms people paste and return the async-driver form SQLAlchemy needs."""
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


class BaseAppSettings(BaseSettings):
    """Settings shared by every project; a project subclasses it and sets its own defaults."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    app_name: str = "genai-app"
    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    database_url: str = "sqlite+aiosqlite:///./app.db"
    database_echo: bool = False
    database_pool_size: int = 5
    redis_url: str | None = None
    redis_timeout_seconds: float = 0.5
    cache_ttl_seconds: int = 60
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    cors_origins: list[str] = []

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("secret_key", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        # `SECRET_KEY=` (compose's ${SECRET_KEY:-}) means "not set", never "an empty key".
        return DEFAULT_SECRET_KEY if value in ("", None) else value

    @field_validator("secret_key")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret != DEFAULT_SECRET_KEY and len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> BaseAppSettings:
        if (
            self.environment not in ("development", "test")
            and self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY
        ):
            raise ValueError(
                f"SECRET_KEY must be set when ENVIRONMENT={self.environment}: "
                "the built-in development key is public"
            )
        return self

    @property
    def cache_namespace(self) -> str:
        """Where this app's cache keys live: two apps may share one Redis."""
        return f"{self.app_name}:"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
