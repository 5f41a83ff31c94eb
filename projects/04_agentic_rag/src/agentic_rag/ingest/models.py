"""The ``ingest_job`` table: a document's bytes and lease until it is ready.

Its columns are ``genai_shared.ingest.models.IngestJobColumns``; the document row it
belongs to is ``agentic_rag.rag.models.Document``.
"""

from __future__ import annotations

from agentic_rag.core.database import Base
from genai_shared.ingest.models import IngestJobColumns


class IngestJob(IngestJobColumns, Base):
    """One document's ingestion (this project's table)."""
