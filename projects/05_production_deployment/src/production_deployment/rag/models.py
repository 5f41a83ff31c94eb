"""Collections, documents and chunks: the source of truth every search index is built from.

Each row carries its owner (``owner_id``), chunks included, so that every query can be
filtered by owner on the row it reads, without a join that a later change could drop.
The vector stores and the keyword index are derived from the ``chunk`` table: a chunk's
id is its point id in the vector store.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from genai_shared.db.base import JSONType, TimestampMixin, UUIDPrimaryKeyMixin, utcnow
from production_deployment.core.database import Base


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


def _owner() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))


class Collection(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A named set of documents that belongs to one user."""

    __tablename__ = "collection"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_collection_owner_id_created_at_id", "owner_id", "created_at", "id"),
    )

    owner_id: Mapped[uuid.UUID] = _owner()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    documents: Mapped[list[Document]] = relationship(
        back_populates="collection", cascade="all, delete-orphan", passive_deletes=True
    )


class Document(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One uploaded file or fetched URL, and how far its ingestion got."""

    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'processing', 'ready', 'failed')", name="status_is_known"
        ),
        CheckConstraint("progress_done >= 0 AND progress_total >= 0", name="progress_not_negative"),
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

    collection: Mapped[Collection] = relationship(back_populates="documents")
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Chunk.ordinal",
    )


class Chunk(UUIDPrimaryKeyMixin, Base):
    """A piece of a document's text with where it came from (for citations).

    ``char_start``/``char_end`` are offsets into the document's extracted text; ``page`` and
    ``last_page`` are 1-based, None for a document without pages.
    """

    __tablename__ = "chunk"
    __table_args__ = (
        UniqueConstraint("document_id", "ordinal"),
        CheckConstraint("char_start >= 0 AND char_end >= char_start", name="offsets_in_order"),
        CheckConstraint("token_count >= 0", name="token_count_not_negative"),
        Index("ix_chunk_owner_id_collection_id", "owner_id", "collection_id"),
        Index("ix_chunk_collection_id", "collection_id"),  # deleting a collection
        # PostgreSQL keyword search (production_deployment.rag.keyword). On SQLite, whose
        # index is an FTS5 table, this is a B-tree of NULLs: kept so both schemas match the model.
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
    # PostgreSQL: to_tsvector('english', text), written with the row by rag.service (stored,
    # so that ranking a match reads it instead of parsing the text again). NULL on SQLite,
    # whose keyword index is the FTS5 table.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True, default=None, deferred=True
    )

    document: Mapped[Document] = relationship(back_populates="chunks")
