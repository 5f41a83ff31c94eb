"""The agent's settings: the shared ones, with the analytics file kept in this project."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from genai_shared.agent.config import AgentSettings as SharedAgentSettings

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


class AgentSettings(SharedAgentSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""

    analytics_sqlite_path: str = Field(
        default=str(_PROJECT_ROOT / "analytics.db"),
        description="Where the SQLite copy of the data set is written at startup",
    )
