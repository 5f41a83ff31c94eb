"""Settings of ingestion: upload limits, the queue, URL fetching."""

from __future__ import annotations

from pydantic_settings import BaseSettings


class IngestSettings(BaseSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""
