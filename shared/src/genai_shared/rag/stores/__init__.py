"""Vector stores behind one interface: Qdrant (embedded or server) and pgvector."""

from genai_shared.rag.stores.base import (
    SearchFilters,
    VectorHit,
    VectorPoint,
    VectorStore,
    VectorStoreError,
)

__all__ = ["SearchFilters", "VectorHit", "VectorPoint", "VectorStore", "VectorStoreError"]
