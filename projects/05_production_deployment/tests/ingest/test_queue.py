"""Which queue runs where: Redis streams with ``REDIS_URL``, in-process without; the worker
refuses to start without Redis; the test-only delay is refused outside tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import ValidationError
from taskiq import InMemoryBroker
from taskiq_redis import RedisStreamBroker

from production_deployment.core.config import Settings
from production_deployment.ingest.queue import TASK_NAME, IngestQueue
from production_deployment.ingest.worker import WorkerConfigError, work


async def _ignore(document_id: str) -> None:
    """A handler that is never called here."""


def test_without_redis_tasks_run_in_process(settings_factory: Callable[..., Settings]) -> None:
    queue = IngestQueue.from_settings(settings_factory(), redis_url=None, handler=_ignore)
    assert isinstance(queue.broker, InMemoryBroker)
    assert queue.in_process
    assert queue.broker.find_task(TASK_NAME) is not None


def test_with_redis_tasks_go_through_a_stream_with_acknowledgements(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(ingest_queue_name="docs", ingest_lease_seconds=30)
    queue = IngestQueue.from_settings(
        settings, redis_url="redis://127.0.0.1:6379/15", handler=_ignore
    )
    broker = queue.broker
    assert isinstance(broker, RedisStreamBroker)
    assert not queue.in_process
    assert broker.queue_name == "docs"
    assert broker.consumer_group_name == "docs:workers"
    assert broker.idle_timeout == 60_000  # a dead worker's message is handed on, in ms
    assert broker.find_task(TASK_NAME) is not None


def test_the_worker_needs_redis(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(WorkerConfigError, match="needs REDIS_URL"):
        asyncio.run(work(settings_factory(redis_url=None), stop=asyncio.Event()))


def test_the_embedding_delay_is_for_tests_only(settings_factory: Callable[..., Settings]) -> None:
    assert settings_factory(ingest_embed_delay_seconds=1).ingest_embed_delay_seconds == 1
    with pytest.raises(ValidationError, match="INGEST_EMBED_DELAY_SECONDS"):
        settings_factory(
            environment="production",
            secret_key="x" * 40,
            database_url="postgresql+asyncpg://app@db:5432/app",
            redis_url="redis://redis:6379/0",
            metrics_token="scrape-token-0123456789",
            ingest_embed_delay_seconds=1,
        )
