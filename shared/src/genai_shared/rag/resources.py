"""The embedder and the vector store the app opens in its lifespan and closes after it.

Embedded Qdrant opens on first use (its folder is locked by one process at a time, and
an app that never searches should not take it); pgvector and a Qdrant server open at
start, so that a wrong URL or a PostgreSQL without the vector extension stops the app
with a clear message instead of failing the first search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI
from pydantic import SecretStr

from genai_shared.db.session import Database
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder
from genai_shared.rag.keyword import ensure_index
from genai_shared.rag.minilm import process_minilm
from genai_shared.rag.stores.base import VectorStore
from genai_shared.rag.stores.pgvector import PgVectorStore
from genai_shared.rag.stores.qdrant import QdrantStore


class ResourceSettings(Protocol):
    """The settings the embedder and the store are built from: a project's ``Settings``
    (``RagSettings`` with the provider and database settings)."""

    @property
    def embedding_provider(self) -> str: ...
    @property
    def embedding_model(self) -> str: ...
    @property
    def embedding_dimensions(self) -> int | None: ...
    @property
    def openai_api_key(self) -> SecretStr | None: ...
    @property
    def openai_base_url(self) -> str | None: ...
    @property
    def vector_store(self) -> str: ...
    @property
    def database_url(self) -> str: ...
    @property
    def pgvector_url(self) -> str | None: ...
    @property
    def pgvector_table(self) -> str: ...
    @property
    def qdrant_url(self) -> str | None: ...
    @property
    def qdrant_api_key(self) -> SecretStr | None: ...
    @property
    def qdrant_collection(self) -> str: ...
    @property
    def qdrant_path(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RagResources:
    embedder: Embedder
    vector_store: VectorStore


def build_embedder(settings: ResourceSettings) -> Embedder:
    if settings.embedding_provider == "openai":
        if settings.openai_api_key is None:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        return OpenAIEmbedder(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
        )
    return MiniLMEmbedder(model=process_minilm())


def build_vector_store(settings: ResourceSettings, *, dimensions: int) -> VectorStore:
    if settings.vector_store == "pgvector":
        return PgVectorStore(
            url=settings.pgvector_url or settings.database_url,
            dimensions=dimensions,
            table=settings.pgvector_table,
        )
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    if settings.qdrant_url:
        return QdrantStore(
            dimensions=dimensions,
            collection=settings.qdrant_collection,
            url=settings.qdrant_url,
            api_key=api_key,
        )
    return QdrantStore(
        dimensions=dimensions, collection=settings.qdrant_collection, path=settings.qdrant_path
    )


@asynccontextmanager
async def rag_resources(
    app: FastAPI,
    settings: ResourceSettings,
    *,
    db: Database,
    embedder: Embedder | None = None,
    vector_store: VectorStore | None = None,
) -> AsyncIterator[RagResources]:
    """Publish ``app.state.embedder`` and ``app.state.vector_store`` for the app's lifetime.

    An embedder or store passed in belongs to the caller (tests share one MiniLM across
    apps) and is not closed here.
    """
    own_embedder = embedder is None
    embedder = embedder or build_embedder(settings)
    own_store = vector_store is None
    store = vector_store or build_vector_store(settings, dimensions=embedder.dimensions)
    try:
        if own_store and not (isinstance(store, QdrantStore) and store.embedded):
            await store.open()
        await ensure_index(db.engine)
        app.state.embedder = embedder
        app.state.vector_store = store
        yield RagResources(embedder=embedder, vector_store=store)
    finally:
        if own_store:
            await store.close()
        if own_embedder and isinstance(embedder, OpenAIEmbedder):
            await embedder.aclose()
