"""Provider configuration read from the environment under the providers' conventional names.

Build it where it is needed (`ProviderSettings()` or, in tests,
`ProviderSettings(_env_file=None, openai_api_key="...")`); there is no import-time instance.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENROUTER_DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(
        # No env file of its own: a project's Settings class mixes this in and names its
        # project's .env (see e.g. multi_provider_chat.core.config).
        env_file=None,
        extra="ignore",
        case_sensitive=False,
    )

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str = OPENROUTER_DEFAULT_BASE_URL
    openrouter_site_url: str = Field(
        default="http://localhost", description="Sent as HTTP-Referer to OpenRouter."
    )
    openrouter_app_name: str = Field(
        default="genai-backend-roadmap", description="Sent as X-Title to OpenRouter."
    )

    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    llm_default_model: str = "mock/echo-1"
    llm_default_max_tokens: int = Field(
        default=1024, gt=0, description="Used when a request sets none (Anthropic requires one)."
    )
    llm_model_aliases: dict[str, str] = Field(
        default_factory=dict, description='JSON object, e.g. {"fast": "openai/gpt-4o-mini"}.'
    )
    llm_fallbacks: list[str] = Field(
        default_factory=list, description='JSON list, e.g. ["anthropic/claude-haiku-4-5"].'
    )
    llm_max_retry_wait_seconds: float = Field(
        default=5.0, ge=0, description="Cap on how long a Retry-After is honoured."
    )

    @field_validator(
        "openai_api_key",
        "anthropic_api_key",
        "openrouter_api_key",
        "openai_base_url",
        "anthropic_base_url",
        mode="before",
    )
    @classmethod
    def _empty_provider_setting_is_unset(cls, value: object) -> object:
        # `OPENAI_API_KEY=` (compose's ${VAR:-}) or an empty secret file means "not set":
        # an empty key must not count as a configured provider.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def openai_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None

    def anthropic_configured(self) -> bool:
        return self.anthropic_api_key is not None or self.anthropic_base_url is not None

    def openrouter_configured(self) -> bool:
        """A key, or a base URL other than the public default (a local gateway)."""
        return (
            self.openrouter_api_key is not None
            or self.openrouter_base_url.rstrip("/") != OPENROUTER_DEFAULT_BASE_URL
        )
