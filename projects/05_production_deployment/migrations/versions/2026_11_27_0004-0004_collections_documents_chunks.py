"""Collections, documents and chunks, each with its owner.

On PostgreSQL, keyword search reads ``chunk.search_vector`` (the stored tsvector of the
text, NULL on SQLite) through a GIN index. The
other search indexes built from ``chunk`` are not here: the vectors (Qdrant, pgvector)
and SQLite's FTS5 table are derived data that their owners create when the app starts
(``genai_shared.rag.stores``, ``production_deployment.rag.keyword``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "collection",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fk("collection", "owner_id", "user"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_collection_owner_id_name")),
    )
    op.create_index(
        "ix_collection_owner_id_created_at_id", "collection", ["owner_id", "created_at", "id"]
    )
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'ready', 'failed')",
            name=op.f("ck_document_status_is_known"),
        ),
        sa.CheckConstraint(
            "progress_done >= 0 AND progress_total >= 0",
            name=op.f("ck_document_progress_not_negative"),
        ),
        _fk("document", "collection_id", "collection"),
        _fk("document", "owner_id", "user"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
    )
    op.create_index(
        "ix_document_collection_id_created_at_id",
        "document",
        ["collection_id", "created_at", "id"],
    )
    op.create_index("ix_document_owner_id_content_hash", "document", ["owner_id", "content_hash"])
    op.create_table(
        "chunk",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading_path", JSON_TYPE, nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("last_page", sa.Integer(), nullable=True),
        sa.Column("char_start", sa.Integer(), nullable=False),
        sa.Column("char_end", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column(
            "search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "char_start >= 0 AND char_end >= char_start", name=op.f("ck_chunk_offsets_in_order")
        ),
        sa.CheckConstraint("token_count >= 0", name=op.f("ck_chunk_token_count_not_negative")),
        _fk("chunk", "document_id", "document"),
        _fk("chunk", "collection_id", "collection"),
        _fk("chunk", "owner_id", "user"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunk")),
        sa.UniqueConstraint("document_id", "ordinal", name=op.f("uq_chunk_document_id_ordinal")),
    )
    op.create_index("ix_chunk_owner_id_collection_id", "chunk", ["owner_id", "collection_id"])
    op.create_index("ix_chunk_collection_id", "chunk", ["collection_id"])
    op.create_index("ix_chunk_search_vector", "chunk", ["search_vector"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":  # the keyword index the app made, if it ran
        op.execute("DROP TABLE IF EXISTS chunk_fts")
    op.drop_index("ix_chunk_search_vector", table_name="chunk")
    op.drop_index("ix_chunk_collection_id", table_name="chunk")
    op.drop_index("ix_chunk_owner_id_collection_id", table_name="chunk")
    op.drop_table("chunk")
    op.drop_index("ix_document_owner_id_content_hash", table_name="document")
    op.drop_index("ix_document_collection_id_created_at_id", table_name="document")
    op.drop_table("document")
    op.drop_index("ix_collection_owner_id_created_at_id", table_name="collection")
    op.drop_table("collection")
