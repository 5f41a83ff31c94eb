"""The embedder and the vector store of the app's lifespan (``genai_shared.rag.resources``)."""

from __future__ import annotations

from genai_shared.rag.resources import (
    RagResources,
    build_embedder,
    build_vector_store,
    rag_resources,
)

__all__ = ["RagResources", "build_embedder", "build_vector_store", "rag_resources"]
