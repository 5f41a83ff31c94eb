"""The interface every vector store implements, and the values that cross it.

Owner filtering is part of the interface: ``search``, ``fetch_vectors`` and the deletes
take the owner as a required argument and each implementation puts it in its own query,
so no caller can search (or delete) across users by forgetting a filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class VectorStoreError(RuntimeError):
    """The store cannot be opened or used as configured (a clear message for the operator)."""


@dataclass(frozen=True, slots=True)
class VectorPoint:
    """One chunk's vector and the ids every query filters on. ``id`` is the chunk's id."""

    id: uuid.UUID
    vector: Sequence[float]
    owner_id: uuid.UUID
    collection_id: uuid.UUID
    document_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Metadata filters, applied on top of the owner filter (never instead of it).

    ``None`` means no restriction; an empty set matches nothing.
    """

    collection_ids: frozenset[uuid.UUID] | None = None
    document_ids: frozenset[uuid.UUID] | None = None

    @property
    def matches_nothing(self) -> bool:
        return self.collection_ids == frozenset() or self.document_ids == frozenset()


@dataclass(frozen=True, slots=True)
class VectorHit:
    """A chunk found by similarity. ``score`` is the cosine similarity (higher is closer)."""

    id: uuid.UUID
    score: float
    collection_id: uuid.UUID
    document_id: uuid.UUID
    vector: list[float] | None = None


@runtime_checkable
class VectorStore(Protocol):
    """Chunk vectors, searchable by cosine similarity, always within one owner's points."""

    @property
    def name(self) -> str:
        """``qdrant`` or ``pgvector`` (logs, benchmarks)."""
        ...

    @property
    def dimensions(self) -> int: ...

    async def open(self) -> None:
        """Create what is missing (collection, table, indexes); refuse a mismatched one."""
        ...

    async def close(self) -> None: ...

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points by id (writing a document twice leaves one copy)."""
        ...

    async def search(
        self,
        owner_id: uuid.UUID,
        vector: Sequence[float],
        *,
        limit: int,
        filters: SearchFilters | None = None,
        with_vectors: bool = False,
    ) -> list[VectorHit]:
        """The owner's ``limit`` closest points, best first."""
        ...

    async def fetch_vectors(
        self, owner_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[float]]:
        """The vectors of those of ``ids`` that the owner has (for reranking)."""
        ...

    async def delete_document(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Remove every point of one of the owner's documents."""
        ...

    async def delete_collection(self, owner_id: uuid.UUID, collection_id: uuid.UUID) -> None:
        """Remove every point of one of the owner's collections."""
        ...
