"""Which queue runs where: Redis streams with ``REDIS_URL``, in-process without; the task
carries its project's name; the test-only delay is refused outside tests."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from taskiq import InMemoryBroker
from taskiq_redis import RedisStreamBroker

from genai_shared.ingest.config import IngestSettings
from genai_shared.ingest.queue import IngestQueue

TASK_NAME = "some_project.ingest.process_document"


async def _ignore(document_id: str) -> None:
    """A handler that is never called here."""


class ProjectSettings(IngestSettings):
    """A project's settings, which name the environment the delay check reads."""

    environment: str = "test"


def test_without_redis_tasks_run_in_process() -> None:
    queue = IngestQueue.from_settings(
        IngestSettings(), redis_url=None, handler=_ignore, task_name=TASK_NAME
    )
    assert isinstance(queue.broker, InMemoryBroker)
    assert queue.in_process
    assert queue.broker.find_task(TASK_NAME) is not None


def test_with_redis_tasks_go_through_a_stream_with_acknowledgements() -> None:
    settings = IngestSettings(ingest_queue_name="docs", ingest_lease_seconds=30)
    queue = IngestQueue.from_settings(
        settings, redis_url="redis://127.0.0.1:6379/15", handler=_ignore, task_name=TASK_NAME
    )
    broker = queue.broker
    assert isinstance(broker, RedisStreamBroker)
    assert not queue.in_process
    assert broker.queue_name == "docs"
    assert broker.consumer_group_name == "docs:workers"
    assert broker.idle_timeout == 60_000  # a dead worker's message is handed on, in ms
    assert broker.find_task(TASK_NAME) is not None
    assert broker.find_task("other_project.ingest.process_document") is None


async def test_a_task_reaches_its_handler_in_process() -> None:
    received: list[str] = []

    async def handle(document_id: str) -> None:
        received.append(document_id)

    queue = IngestQueue(InMemoryBroker(await_inplace=True), handle, task_name=TASK_NAME)
    await queue.start()
    try:
        document_id = uuid.uuid4()
        await queue.enqueue(document_id)
    finally:
        await queue.stop()
    assert received == [str(document_id)]


def test_the_embedding_delay_is_for_tests_only() -> None:
    assert ProjectSettings(ingest_embed_delay_seconds=1).ingest_embed_delay_seconds == 1
    assert ProjectSettings(environment="development", ingest_embed_delay_seconds=1)
    with pytest.raises(ValidationError, match="INGEST_EMBED_DELAY_SECONDS"):
        ProjectSettings(environment="production", ingest_embed_delay_seconds=1)
    assert ProjectSettings(environment="production").ingest_embed_delay_seconds == 0
