"""What every project's ingestion worker does once its resources are open: read the
Redis stream and ingest, until told to stop.

A project's worker entry point (``<project>.ingest.worker``) opens its own database,
embedder and vector store, builds an ``IngestRuntime`` and calls ``consume``;
``until_signalled`` turns SIGTERM or Ctrl-C into a graceful stop: no new tasks are
taken, running ones get ``INGEST_LEASE_SECONDS`` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from taskiq.receiver import Receiver

from genai_shared.ingest.service import Ingestion, IngestRuntime

logger = logging.getLogger(__name__)


class WorkerConfigError(SystemExit):
    """The worker cannot run with these settings (the message says why)."""


async def consume(
    ingestion: Ingestion[Any], runtime: IngestRuntime, *, redis_url: str, stop: asyncio.Event
) -> None:
    """Run ``runtime``'s ingestions for the tasks on the Redis stream until ``stop`` is set
    (with the recovery sweep alongside)."""
    settings = runtime.settings
    async with ingestion.running_queue(runtime=runtime, redis_url=redis_url, worker=True) as queue:
        receiver = Receiver(
            queue.broker,
            max_async_tasks=settings.ingest_worker_concurrency,
            run_startup=False,
            propagate_exceptions=False,
            wait_tasks_timeout=settings.ingest_lease_seconds,
        )
        logger.info(
            "ingest worker reading %s (%d at a time)",
            settings.ingest_queue_name,
            settings.ingest_worker_concurrency,
        )
        await receiver.listen(stop)


async def until_signalled(work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``work(stop)``, with ``stop`` set on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    await work(stop)
