"""The ingestion queue: one taskiq task, on Redis when ``REDIS_URL`` is set.

The task's name is the project's (``agentic_rag.ingest.process_document``...): a worker
only runs the tasks its own app sends, even on a Redis both projects use.

On Redis the broker is taskiq-redis's ``RedisStreamBroker``: a worker reads a message
through a consumer group and acknowledges it only after the task has run, so a worker
killed mid-document leaves its message pending instead of losing it. The database holds
the real state, though: the recovery sweep (``service.recover_abandoned``) re-queues or
fails a document whose worker stopped, and a run only starts by claiming a ``queued``
document, so a message delivered twice does the work once.

Without Redis (embedded defaults) the broker is taskiq's ``InMemoryBroker``: a task runs
in the app's own event loop, right after the request that queued it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Final

from redis.exceptions import RedisError
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from genai_shared.ingest.config import IngestSettings

MAX_STREAM_LENGTH: Final = 10_000  # acknowledged messages are trimmed past this (approximately)

DocumentHandler = Callable[[str], Coroutine[Any, Any, None]]
"""Runs one document's ingestion, given its id (a string: task arguments travel as JSON)."""

logger = logging.getLogger(__name__)


def build_broker(settings: IngestSettings, *, redis_url: str | None) -> AsyncBroker:
    """A Redis stream broker for ``redis_url``, else an in-process one."""
    if redis_url is None:
        return InMemoryBroker(
            max_async_tasks=settings.ingest_worker_concurrency,
            propagate_exceptions=False,
        )
    lease_ms = int(settings.ingest_lease_seconds * 1000)
    return RedisStreamBroker(
        url=redis_url,
        queue_name=settings.ingest_queue_name,
        consumer_group_name=f"{settings.ingest_queue_name}:workers",
        maxlen=MAX_STREAM_LENGTH,
        xread_block=1000,
        # A message unacknowledged this long (its worker died) is handed to another
        # worker; by then the sweep has usually re-queued the document already.
        idle_timeout=2 * lease_ms,
        unacknowledged_lock_timeout=10.0,
    )


class IngestQueue:
    """The broker and the one task it carries.

    The same class serves both sides: the app sends (``enqueue``), a worker process (or,
    in-process, the broker itself) runs ``handler`` for each message.
    """

    def __init__(self, broker: AsyncBroker, handler: DocumentHandler, *, task_name: str) -> None:
        self.broker = broker
        self.task_name = task_name
        self._task: AsyncTaskiqDecoratedTask[[str], Coroutine[Any, Any, None]] = (
            broker.register_task(handler, task_name=task_name)
        )

    @classmethod
    def from_settings(
        cls,
        settings: IngestSettings,
        *,
        redis_url: str | None,
        handler: DocumentHandler,
        task_name: str,
    ) -> IngestQueue:
        return cls(build_broker(settings, redis_url=redis_url), handler, task_name=task_name)

    @property
    def in_process(self) -> bool:
        """True when tasks run in this process's event loop (no Redis)."""
        return isinstance(self.broker, InMemoryBroker)

    async def enqueue(self, document_id: uuid.UUID) -> None:
        await self._task.kiq(str(document_id))

    async def start(self, *, worker: bool = False) -> None:
        """Connect; a worker's start also creates the consumer group it reads through.

        The app starts even while Redis is down (its other routes still work): uploads are
        stored as ``queued`` and the recovery sweep sends them once Redis is back. A
        worker, whose whole job is the queue, fails at once instead.
        """
        self.broker.is_worker_process = worker
        try:
            await self.broker.startup()
        except (RedisError, OSError) as error:
            if worker:
                raise
            logger.warning(
                "the ingestion queue is unreachable (%s); documents wait as queued",
                type(error).__name__,
            )

    async def stop(self) -> None:
        await self.broker.shutdown()
