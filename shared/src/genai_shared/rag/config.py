"""Settings of retrieval: the embedding model, the vector store, search defaults.

A project mixes :class:`RagSettings` into its ``Settings``, usually through a subclass
that puts embedded Qdrant's folder in the project's own directory."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class RagSettings(BaseSettings):
    """Mixed into a project's ``Settings`` (environment variables, conventional names)."""

    # The embedder. MiniLM runs in-process (no key, no network); OpenAI needs OPENAI_API_KEY.
    embedding_provider: Literal["minilm", "openai"] = "minilm"
    embedding_model: str = Field(
        default="text-embedding-3-small", description="The OpenAI model, when that is the provider"
    )
    embedding_dimensions: int | None = Field(
        default=None, ge=1, description="Ask an OpenAI text-embedding-3 model for fewer dimensions"
    )

    # The vector store.
    vector_store: Literal["qdrant", "pgvector"] = "qdrant"
    qdrant_url: str | None = Field(
        default=None, description="A Qdrant server; unset: embedded Qdrant in QDRANT_PATH"
    )
    qdrant_api_key: SecretStr | None = None
    qdrant_path: str = Field(
        default="qdrant_data",
        description="Embedded Qdrant's folder (one process at a time), or :memory:",
    )
    qdrant_collection: str = Field(default="chunks", min_length=1, max_length=255)
    pgvector_url: str | None = Field(
        default=None,
        description="PostgreSQL with the vector extension; unset: DATABASE_URL",
    )
    pgvector_table: str = Field(default="chunk_vector", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # Search.
    search_default_limit: int = Field(default=8, ge=1, le=100)
    search_max_limit: int = Field(default=50, ge=1, le=200)
    search_candidates: int = Field(
        default=50,
        ge=1,
        le=500,
        description="How many hits each retriever hands to fusion and reranking",
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion's k")
    mmr_lambda: float = Field(
        default=0.7, ge=0, le=1, description="MMR: 1 = relevance only, 0 = diversity only"
    )

    @field_validator("qdrant_url", "pgvector_url", mode="before")
    @classmethod
    def _empty_rag_setting_is_unset(cls, value: object) -> object:
        return None if value == "" else value
