"""What ingestion keeps next to a document until it is ready, as a mixin for each project.

A project's document row carries what users see (status, progress, failure reason). A
worker in another process needs the uploaded bytes, and crash recovery needs to know who
holds a document and until when: that is the ``ingest_job`` row, one per document. Each
project declares ``class IngestJob(IngestJobColumns, Base)`` on its own ``Base``, so the
table lands in its own metadata and Alembic history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from genai_shared.db.base import TimestampMixin


class IngestJobColumns(TimestampMixin):
    """One document's ingestion.

    ``lease_expires_at`` is when the recovery sweep steps in: a ``processing`` document
    past it lost its worker (re-queued, or failed once ``attempts`` reaches the cap); a
    ``queued`` one past it lost its message (sent again). ``attempts`` counts the runs
    that started, and fences them: a run only writes while the count is still its own.
    ``content`` is dropped once the document is ready or failed.
    """

    __tablename__ = "ingest_job"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # A fresh Index per class: each project's table gets its own.
        return (Index("ix_ingest_job_lease_expires_at", "lease_expires_at"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("document.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    charset: Mapped[str | None] = mapped_column(String(40), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
