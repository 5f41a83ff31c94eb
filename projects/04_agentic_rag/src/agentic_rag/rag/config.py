"""Settings of retrieval: the embedding model, the vector store, search defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings


class RagSettings(BaseSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""
