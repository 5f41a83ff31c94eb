"""Ingestion in an app's lifespan: the queue (started), and the recovery sweep.

On embedded defaults (no ``REDIS_URL``) the documents are ingested right in the app's
event loop, with the app's embedder and vector store. With Redis, the app only sends
tasks and sweeps; the project's worker processes ingest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from genai_shared.db.session import Database
from genai_shared.ingest.config import IngestSettings
from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.service import Ingestion, IngestRuntime
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores.base import VectorStore


@asynccontextmanager
async def ingest_resources(
    app: FastAPI,
    *,
    ingestion: Ingestion[Any],
    settings: IngestSettings,
    redis_url: str | None,
) -> AsyncIterator[IngestQueue]:
    """Publish ``app.state.ingest_queue`` for the app's lifetime.

    Enter it after the database and the embedder and vector store: it reads
    ``app.state.db``, ``.embedder`` and ``.vector_store``. On the way out, in-process
    runs are cancelled; their documents are taken back by the next start's sweep.
    """
    db: Database = app.state.db
    embedder: Embedder = app.state.embedder
    store: VectorStore = app.state.vector_store
    runtime = IngestRuntime(
        db=db,
        embedder=embedder,
        store=store,
        chunker=await anyio.to_thread.run_sync(Chunker.for_minilm),
        settings=settings,
    )
    async with ingestion.running_queue(runtime=runtime, redis_url=redis_url, worker=False) as queue:
        app.state.ingest_queue = queue
        try:
            yield queue
        finally:
            del app.state.ingest_queue
