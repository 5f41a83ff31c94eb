"""This project's queue wiring: its task and stream names, the worker refusing to start
without Redis, and the test-only delay refused by its settings outside tests (the queue
itself is tested in ``shared/tests/ingest``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from agentic_rag.core.config import Settings
from agentic_rag.ingest.service import TASK_NAME, ingestion
from agentic_rag.ingest.worker import WorkerConfigError, work


def test_the_task_and_stream_carry_the_projects_name() -> None:
    assert ingestion.task_name == TASK_NAME == "agentic_rag.ingest.process_document"
    assert Settings.model_fields["ingest_queue_name"].default == "agentic-rag:ingest"


def test_the_worker_needs_redis(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(WorkerConfigError, match="needs REDIS_URL"):
        asyncio.run(work(settings_factory(redis_url=None), stop=asyncio.Event()))


def test_the_embedding_delay_is_for_tests_only(settings_factory: Callable[..., Settings]) -> None:
    assert settings_factory(ingest_embed_delay_seconds=1).ingest_embed_delay_seconds == 1
    with pytest.raises(ValidationError, match="INGEST_EMBED_DELAY_SECONDS"):
        settings_factory(
            environment="production", secret_key="x" * 40, ingest_embed_delay_seconds=1
        )
