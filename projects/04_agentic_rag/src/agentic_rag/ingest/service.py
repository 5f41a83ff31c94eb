"""This project's ingestion: ``genai_shared.ingest.service`` over its own tables.

Routes, the lifespan and the worker all use ``ingestion``; its task name is the one the
worker registers, so a message of another project's app is never run here.
"""

from __future__ import annotations

from typing import Final

from agentic_rag.ingest.models import IngestJob
from agentic_rag.rag import service as rag_service
from agentic_rag.rag.models import Chunk, Document
from genai_shared.ingest.service import Ingestion

TASK_NAME: Final = "agentic_rag.ingest.process_document"

ingestion: Final = Ingestion(
    document_model=Document,
    job_model=IngestJob,
    chunk_model=Chunk,
    index=rag_service,
    task_name=TASK_NAME,
)
