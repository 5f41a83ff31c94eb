"""This project's ingestion: ``genai_shared.ingest.service`` over its own tables.

Routes, the lifespan and the worker all use ``ingestion``; its task name is the one the
worker registers, so a message of another project's app is never run here.
"""

from __future__ import annotations

from typing import Final

from genai_shared.ingest.service import Ingestion
from production_deployment.ingest.models import IngestJob
from production_deployment.rag import service as rag_service
from production_deployment.rag.models import Chunk, Document

TASK_NAME: Final = "production_deployment.ingest.process_document"

ingestion: Final = Ingestion(
    document_model=Document,
    job_model=IngestJob,
    chunk_model=Chunk,
    index=rag_service,
    task_name=TASK_NAME,
)
