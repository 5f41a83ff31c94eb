"""Ingestion in the app's lifespan: the queue (started), and the recovery sweep.

On embedded defaults (no ``REDIS_URL``) the documents are ingested right here, in the
app's event loop, with the app's embedder and vector store. With Redis, the app only
sends tasks and sweeps; ``production-deployment-worker`` processes ingest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from genai_shared.db.session import Database
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores.base import VectorStore
from production_deployment.core.config import Settings
from production_deployment.ingest.queue import IngestQueue
from production_deployment.ingest.service import IngestRuntime, running_queue


@asynccontextmanager
async def ingest_resources(app: FastAPI, settings: Settings) -> AsyncIterator[IngestQueue]:
    """Publish ``app.state.ingest_queue`` for the app's lifetime.

    Enter it after the database (``core_resources``) and the embedder and vector store
    (``rag_resources``): it reads them from ``app.state``. On the way out, in-process
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
    async with running_queue(runtime=runtime, redis_url=settings.redis_url, worker=False) as queue:
        app.state.ingest_queue = queue
        try:
            yield queue
        finally:
            del app.state.ingest_queue
