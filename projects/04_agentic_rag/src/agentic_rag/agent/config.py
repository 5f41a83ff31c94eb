"""Settings of the agent loop and its tools: caps, timeouts, tool configuration."""

from __future__ import annotations

from pydantic_settings import BaseSettings


class AgentSettings(BaseSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""
