"""Settings of the agent loop and its tools: caps, timeouts, tool configuration.

A project mixes ``AgentSettings`` into its ``Settings``, usually through a subclass that
puts ``analytics_sqlite_path`` next to its own files."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class AgentSettings(BaseSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""

    # The loop's caps: whichever is reached first ends a run, and is its stop reason.
    agent_max_steps: int = Field(
        default=6, ge=1, le=50, description="Model calls per agent run (each one a step)"
    )
    agent_max_tool_calls: int = Field(default=12, ge=1, le=200, description="Tool runs per run")
    agent_timeout_seconds: float = Field(
        default=120, gt=0, description="Wall-clock limit of one run, model and tools included"
    )
    agent_max_tokens: int = Field(
        default=32_000,
        ge=256,
        description="Tokens one run may use over all its model calls (prompts and replies)",
    )
    agent_step_max_tokens: int = Field(
        default=1024, ge=16, description="max_tokens of each model call of a run"
    )
    agent_max_identical_calls: int = Field(
        default=1,
        ge=1,
        description="How often one call (same tool, same arguments) may run in a run; "
        "the model asking once more stops the run (repeated_call)",
    )
    agent_tool_result_max_chars: int = Field(
        default=12_000, ge=200, description="A tool result longer than this is cut for the model"
    )
    agent_tool_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Who may call a tool, by role, overriding its default: {"sql_query": '
        '["admin"]}; a tool not named keeps its default (every signed-in user)',
    )

    # sql_query: the analytics data set (SQLite file on embedded defaults, the
    # ``analytics`` schema of the app's database on PostgreSQL).
    analytics_sqlite_path: str = Field(
        default="analytics.db",
        description="Where the SQLite copy of the data set is written at startup",
    )
    analytics_schema: str = Field(default="analytics", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    analytics_reader_role: str = Field(
        default="analytics_reader", pattern=r"^[a-z_][a-z0-9_]{0,62}$"
    )
    analytics_max_rows: int = Field(default=100, ge=1, le=10_000)
    analytics_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    # get_weather: offered only when a weather service is configured.
    weather_api_base_url: str | None = Field(
        default=None, description="The weather service; unset: no get_weather tool"
    )
    weather_api_key: SecretStr | None = None
    weather_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("weather_api_base_url", mode="before")
    @classmethod
    def _empty_agent_setting_is_unset(cls, value: object) -> object:
        return None if value == "" else value
