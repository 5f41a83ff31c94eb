"""Ingestion in the app's lifespan (``genai_shared.ingest.resources``).

On embedded defaults (no ``REDIS_URL``) the documents are ingested in the app's event
loop; with Redis, the app only sends tasks and sweeps, and ``agentic-rag-worker``
processes ingest.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from agentic_rag.core.config import Settings
from agentic_rag.ingest.service import ingestion
from genai_shared.ingest import resources
from genai_shared.ingest.queue import IngestQueue


def ingest_resources(app: FastAPI, settings: Settings) -> AbstractAsyncContextManager[IngestQueue]:
    """Publish ``app.state.ingest_queue``; enter it after ``core_resources`` and
    ``rag_resources`` (it reads the database, embedder and store from ``app.state``)."""
    return resources.ingest_resources(
        app, ingestion=ingestion, settings=settings, redis_url=settings.redis_url
    )
