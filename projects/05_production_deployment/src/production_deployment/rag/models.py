"""This project's collections, documents and chunks: the shared columns on its own ``Base``.

The columns, constraints, indexes and relationships are ``genai_shared.rag.models``'
(the schema is this project's Alembic history); the keyword index over ``chunk`` is
hooked to this model in ``production_deployment.rag.keyword``.
"""

from __future__ import annotations

from genai_shared.rag.models import ChunkColumns, CollectionColumns, DocumentColumns, DocumentStatus
from production_deployment.core.database import Base

__all__ = ["Chunk", "Collection", "Document", "DocumentStatus"]


class Collection(CollectionColumns, Base):
    """A named set of documents that belongs to one user."""


class Document(DocumentColumns, Base):
    """One uploaded file or fetched URL, and how far its ingestion got."""


class Chunk(ChunkColumns, Base):
    """A piece of a document's text with where it came from (for citations)."""
