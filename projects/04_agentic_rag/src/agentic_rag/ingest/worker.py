"""The ingestion worker: ``agentic-rag-worker`` (``make worker-04``).

It reads tasks from the Redis stream (``REDIS_URL``) and ingests documents with its own
database connection, embedder and vector store, built from the same settings as the
app. It needs a vector store that several processes can share: a Qdrant server
(``QDRANT_URL``) or pgvector. Embedded Qdrant locks its folder to one process, which is
why, without Redis, the app ingests in-process instead.

The loop itself is ``genai_shared.ingest.worker``. SIGTERM or Ctrl-C stops it gracefully:
no new tasks are taken, running ones get ``INGEST_LEASE_SECONDS`` to finish. A worker
killed outright leaves its documents to the recovery sweep of the other processes (or of
its own next start).
"""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread

import agentic_rag.users.models  # noqa: F401 - the table every row's owner_id points to
from agentic_rag.core.config import Settings, get_settings
from agentic_rag.ingest.service import ingestion
from agentic_rag.rag import keyword
from agentic_rag.rag.resources import build_embedder, build_vector_store
from genai_shared.db.session import Database
from genai_shared.ingest.service import IngestRuntime
from genai_shared.ingest.worker import WorkerConfigError, consume, until_signalled
from genai_shared.log import configure_logging
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import OpenAIEmbedder
from genai_shared.rag.stores.qdrant import QdrantStore

logger = logging.getLogger("agentic_rag.worker")


async def work(settings: Settings, *, stop: asyncio.Event) -> None:
    """Ingest documents from the queue until ``stop`` is set."""
    if not settings.redis_url:
        raise WorkerConfigError(
            "agentic-rag-worker needs REDIS_URL: without Redis the app ingests in-process"
        )
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    embedder = build_embedder(settings)
    store = build_vector_store(settings, dimensions=embedder.dimensions)
    if isinstance(store, QdrantStore) and store.embedded:
        logger.warning(
            "embedded Qdrant (%s) is locked by one process: no app or other worker may "
            "use that folder; set QDRANT_URL or VECTOR_STORE=pgvector to share the store",
            settings.qdrant_path,
        )
    try:
        await store.open()
        await keyword.ensure_index(db.engine)
        runtime = IngestRuntime(
            db=db,
            embedder=embedder,
            store=store,
            chunker=await anyio.to_thread.run_sync(Chunker.for_minilm),
            settings=settings,
        )
        await consume(ingestion, runtime, redis_url=settings.redis_url, stop=stop)
    finally:
        await store.close()
        if isinstance(embedder, OpenAIEmbedder):
            await embedder.aclose()
        await db.dispose()


async def _main(settings: Settings) -> None:
    await until_signalled(lambda stop: work(settings, stop=stop))


def run() -> None:
    """Run the worker with the settings from the environment (``agentic-rag-worker``)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    run()
