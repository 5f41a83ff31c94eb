"""The columns of collections, documents and chunks, as mixins for each project's models.

Collections, documents and chunks are the source of truth every search index is built
from. Each row carries its owner (``owner_id``), chunks included, so that every query can
be filtered by owner on the row it reads, without a join that a later change could drop.
The vector stores and the keyword index are derived from the ``chunk`` table: a chunk's
id is its point id in the vector store.

Every project has its own declarative ``Base`` (its own metadata and Alembic history), so
a project writes ``class Chunk(ChunkColumns, Base)`` and so on; the relationships name
``Collection``, ``Document`` and ``Chunk``, which SQLAlchemy looks up in that project's
own registry. The table names are fixed (``collection``, ``document``, ``chunk``): the
foreign keys and the SQLite keyword index refer to them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from genai_shared.db.base import JSONType, TimestampMixin, UUIDPrimaryKeyMixin, utcnow


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


def _owner() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))


class CollectionColumns(UUIDPrimaryKeyMixin, TimestampMixin):
    """A named set of documents that belongs to one user."""

    __tablename__ = "collection"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("owner_id", "name"),
            Index("ix_collection_owner_id_created_at_id", "owner_id", "created_at", "id"),
        )

    owner_id: Mapped[uuid.UUID] = _owner()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    @declared_attr
    @classmethod
    def documents(cls) -> Mapped[list[Any]]:
        return relationship(
            "Document",
            back_populates="collection",
            cascade="all, delete-orphan",
            passive_deletes=True,  # the database's ON DELETE CASCADE does the work
        )


class DocumentColumns(UUIDPrimaryKeyMixin, TimestampMixin):
    """One uploaded file or fetched URL, and how far its ingestion got."""

    __tablename__ = "document"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint(
                "status IN ('queued', 'processing', 'ready', 'failed')", name="status_is_known"
            ),
            CheckConstraint(
                "progress_done >= 0 AND progress_total >= 0", name="progress_not_negative"
            ),
            Index("ix_document_collection_id_created_at_id", "collection_id", "created_at", "id"),
            Index("ix_document_owner_id_content_hash", "owner_id", "content_hash"),
        )

    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collection.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = _owner()
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(2048), doc="A file name or a URL")
    content_type: Mapped[str] = mapped_column(String(128))
    content_hash: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the bytes, hex")
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.QUEUED.value)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)

    @declared_attr
    @classmethod
    def collection(cls) -> Mapped[Any]:
        return relationship("Collection", back_populates="documents")

    @declared_attr
    @classmethod
    def chunks(cls) -> Mapped[list[Any]]:
        return relationship(
            "Chunk",
            back_populates="document",
            cascade="all, delete-orphan",
            passive_deletes=True,
            order_by="Chunk.ordinal",
        )


class ChunkColumns(UUIDPrimaryKeyMixin):
    """A piece of a document's text with where it came from (for citations).

    ``char_start``/``char_end`` are offsets into the document's extracted text; ``page`` and
    ``last_page`` are 1-based, None for a document without pages.
    """

    __tablename__ = "chunk"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("document_id", "ordinal"),
            CheckConstraint("char_start >= 0 AND char_end >= char_start", name="offsets_in_order"),
            CheckConstraint("token_count >= 0", name="token_count_not_negative"),
            Index("ix_chunk_owner_id_collection_id", "owner_id", "collection_id"),
            Index("ix_chunk_collection_id", "collection_id"),  # deleting a collection
            # PostgreSQL keyword search (genai_shared.rag.keyword). On SQLite, whose index
            # is an FTS5 table, this is a B-tree of NULLs: kept so both schemas match.
            Index("ix_chunk_search_vector", "search_vector", postgresql_using="gin"),
        )

    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("document.id", ondelete="CASCADE")
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collection.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = _owner()
    ordinal: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(JSONType, default=list)
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    last_page: Mapped[int | None] = mapped_column(Integer, default=None)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # PostgreSQL: to_tsvector('english', text), written with the row by the service (stored,
    # so that ranking a match reads it instead of parsing the text again). NULL on SQLite,
    # whose keyword index is the FTS5 table.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, default=None, deferred=True
    )

    @declared_attr
    @classmethod
    def document(cls) -> Mapped[Any]:
        return relationship("Document", back_populates="chunks")
