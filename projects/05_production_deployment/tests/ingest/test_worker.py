"""The real queue on the real Redis, with real worker processes (``production-deployment-worker``).

The app (in this process) only sends tasks and sweeps; each worker is a subprocess
running the console script's entry point, with its own MiniLM and its own embedded
Qdrant folder, sharing the app's SQLite file and Redis. The app's own embedder counts
its calls: it stays at zero, so the embedding really happened in a worker.

A worker killed with SIGKILL mid-document (its embedding slowed by a test setting) leaves
the document ``processing``; once its lease runs out the sweep re-queues it and the next
worker finishes it, or, with no attempts left, the sweep fails it with a reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from production_deployment.ingest.models import IngestJob

pytestmark = pytest.mark.integration

LEASE_SECONDS = 2


def sections(count: int) -> bytes:
    body = " ".join(f"word{index}" for index in range(30))
    return "\n\n".join(f"## Part {n}\n\n{body}." for n in range(count)).encode()


@pytest.fixture
def backend() -> str:
    """SQLite: one file the app and its worker processes share."""
    return "sqlite"


@pytest.fixture
def queue_name() -> str:
    return f"test-ingest-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app_settings(redis_url: str, redis_client: Any, queue_name: str) -> dict[str, Any]:
    """What the app and the workers share: Redis (emptied by ``redis_client``), the queue
    and short leases, so a dead worker's document is taken back within seconds."""
    return {
        "redis_url": redis_url,
        "redis_timeout_seconds": 5,
        "ingest_queue_name": queue_name,
        "ingest_lease_seconds": LEASE_SECONDS,
        "ingest_sweep_interval_seconds": 0.5,
    }


@contextmanager
def worker_process(
    tmp_path: Path, name: str, database_url: str, shared: dict[str, Any], **settings: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker with the app's settings plus ``settings``; stop it at the end."""
    values = {
        **shared,
        "database_url": database_url,
        "qdrant_path": str(tmp_path / f"qdrant-{name}"),  # embedded Qdrant: one per process
        "qdrant_url": "",
        "vector_store": "qdrant",
        "embedding_provider": "minilm",
        "environment": "test",
        "log_level": "INFO",
        **settings,
    }
    env = {**os.environ, **{key.upper(): str(value) for key, value in values.items()}}
    script = shutil.which("production-deployment-worker", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "production_deployment.ingest.worker"]
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


async def attempts(api: Any, document_id: str) -> int:
    async with api.app.state.db.sessionmaker() as session:
        count = await session.scalar(
            select(IngestJob.attempts).where(IngestJob.document_id == uuid.UUID(document_id))
        )
    return int(count or 0)


async def test_a_worker_process_ingests_from_redis(
    ingest_api: Any, app_settings: dict[str, Any], embedder: Any, tmp_path: Path
) -> None:
    async with ingest_api(worker=False, **app_settings) as api:
        with worker_process(tmp_path, "worker", api.settings.database_url, app_settings):
            collection = await api.collection()
            response = await api.upload(collection, sections(3), filename="parts.md")
            assert response.status_code == 202, response.text
            ready = await api.settled(response.json()["id"])
    assert ready["status"] == "ready", (tmp_path / "worker.log").read_text()
    assert ready["progress"]["done"] == ready["progress"]["total"] >= 3
    assert embedder.calls == 0  # the app never embedded: the worker did


async def test_a_killed_worker_leaves_the_document_to_the_next_one(
    ingest_api: Any, app_settings: dict[str, Any], embedder: Any, tmp_path: Path
) -> None:
    slow = {"ingest_embed_batch_size": 1, "ingest_embed_delay_seconds": 1}
    async with ingest_api(worker=False, **app_settings) as api:
        collection = await api.collection()
        with worker_process(
            tmp_path, "doomed", api.settings.database_url, app_settings, **slow
        ) as doomed:
            document = (await api.upload(collection, sections(8), filename="parts.md")).json()
            mid_way = await api.wait_until(
                document["id"],
                lambda doc: doc["status"] == "processing" and doc["progress"]["done"] >= 1,
            )
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        assert mid_way["progress"]["done"] < mid_way["progress"]["total"]
        assert (await api.document(document["id"]))["status"] == "processing"

        with worker_process(tmp_path, "next", api.settings.database_url, app_settings):
            finished = await api.settled(document["id"])
        assert finished["status"] == "ready", (tmp_path / "next.log").read_text()
        assert finished["progress"]["done"] == finished["progress"]["total"] >= 8
        assert await attempts(api, document["id"]) == 2
    assert embedder.calls == 0


async def test_a_document_out_of_attempts_ends_failed(
    ingest_api: Any, app_settings: dict[str, Any], tmp_path: Path
) -> None:
    shared = {**app_settings, "ingest_max_attempts": 1}
    slow = {"ingest_embed_batch_size": 1, "ingest_embed_delay_seconds": 1}
    async with ingest_api(worker=False, **shared) as api:
        collection = await api.collection()
        with worker_process(
            tmp_path, "doomed", api.settings.database_url, shared, **slow
        ) as doomed:
            document = (await api.upload(collection, sections(8), filename="parts.md")).json()
            await api.wait_until(
                document["id"],
                lambda doc: doc["status"] == "processing" and doc["progress"]["done"] >= 1,
            )
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        failed = await api.settled(document["id"])  # the app's own sweep gives it up
    assert failed["status"] == "failed"
    assert "interrupted 1 time(s)" in failed["failure_reason"]
