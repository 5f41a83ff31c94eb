"""The ``ingest_job`` table: a document's bytes and lease until it is ready.

Its columns are ``genai_shared.ingest.models.IngestJobColumns``; the document row it
belongs to is ``production_deployment.rag.models.Document``.
"""

from __future__ import annotations

from genai_shared.ingest.models import IngestJobColumns
from production_deployment.core.database import Base


class IngestJob(IngestJobColumns, Base):
    """One document's ingestion (this project's table)."""
