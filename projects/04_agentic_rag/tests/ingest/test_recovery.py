"""Crash recovery, step by step: a run that died leaves its document ``processing`` until
its lease ends; the sweep then re-queues it (or fails it once it has used its attempts),
and a run that lost its document can no longer write to it.

A worker's death is what ``claim_document`` without ``process_claimed`` leaves behind.
The queue here records what it is sent instead of running it, so each step is the test's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from taskiq import InMemoryBroker

from agentic_rag.core.config import Settings
from agentic_rag.ingest import service
from agentic_rag.ingest.models import IngestJob
from agentic_rag.ingest.queue import IngestQueue
from agentic_rag.rag.models import Chunk, Collection, Document
from genai_shared.db.base import utcnow
from genai_shared.rag.chunking import Chunker

GUIDE = b"# Herons\n\nThey wade.\n\n## Nests\n\nIn colonies.\n"


@dataclass
class Rig:
    api: Any
    runtime: service.IngestRuntime
    queue: IngestQueue
    sent: list[uuid.UUID] = field(default_factory=list)
    collection_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.api.settings
        return settings

    async def add(self, content: bytes = GUIDE) -> uuid.UUID:
        async with self.runtime.db.transaction() as session:
            collection = await session.get(Collection, self.collection_id)
            assert collection is not None
            document = await service.create_document(
                session=session,
                queue=self.queue,
                settings=self.settings,
                collection=collection,
                source=service.SourceDocument(
                    content=content, media_type="text/markdown", source="g.md", title="g"
                ),
            )
        await asyncio.sleep(0)  # let the in-memory broker hand the message over
        return document.id

    async def state(self, document_id: uuid.UUID) -> tuple[Document, IngestJob]:
        async with self.runtime.db.sessionmaker() as session:
            document = await session.get(Document, document_id)
            job = await session.get(IngestJob, document_id)
        assert document is not None
        assert job is not None
        return document, job

    async def expire_lease(self, document_id: uuid.UUID) -> None:
        """Let the lease run out now, as it would after INGEST_LEASE_SECONDS of silence."""
        async with self.runtime.db.transaction() as session:
            await session.execute(
                update(IngestJob)
                .where(IngestJob.document_id == document_id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )

    async def sweep(self) -> service.Recovery:
        recovery = await service.recover_abandoned(
            db=self.runtime.db, queue=self.queue, settings=self.settings
        )
        await asyncio.sleep(0)
        return recovery

    async def chunks(self, document_id: uuid.UUID) -> int:
        async with self.runtime.db.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.document_id == document_id)
            )
        return int(count or 0)


@pytest.fixture
async def rig(ingest_api: Any, chunker: Chunker, embedder: Any) -> AsyncIterator[Rig]:
    # The app's own sweep runs once at start (before the tables exist): the test sweeps.
    async with ingest_api(ingest_sweep_interval_seconds=3600, ingest_max_attempts=2) as api:
        runtime = service.IngestRuntime(
            db=api.app.state.db,
            embedder=embedder,
            store=api.app.state.vector_store,
            chunker=chunker,
            settings=api.settings,
        )
        sent: list[uuid.UUID] = []

        async def record(document_id: str) -> None:
            sent.append(uuid.UUID(document_id))

        queue = IngestQueue(InMemoryBroker(await_inplace=True), record)
        await queue.start()
        rig = Rig(api=api, runtime=runtime, queue=queue, sent=sent)
        rig.collection_id = uuid.UUID(await api.collection())
        try:
            yield rig
        finally:
            await queue.stop()


async def test_a_dead_runs_document_is_requeued_and_finishes(rig: Rig, embedder: Any) -> None:
    document_id = await rig.add()
    assert rig.sent == [document_id]
    dead = await service.claim_document(runtime=rig.runtime, document_id=document_id)
    assert dead is not None
    assert dead.attempt == 1

    assert await rig.sweep() == service.Recovery()  # the lease still runs: nothing to do
    assert (await rig.state(document_id))[0].status == "processing"

    await rig.expire_lease(document_id)
    assert await rig.sweep() == service.Recovery(requeued=1)
    document, job = await rig.state(document_id)
    assert document.status == "queued"
    assert job.content == GUIDE  # kept for the next run
    assert rig.sent == [document_id, document_id]

    await service.ingest_document(runtime=rig.runtime, document_id=document_id)
    document, job = await rig.state(document_id)
    assert document.status == "ready"
    assert job.attempts == 2
    assert await rig.chunks(document_id) == document.progress_total > 0
    assert embedder.calls > 0


async def test_a_document_that_keeps_killing_its_worker_ends_failed(rig: Rig) -> None:
    document_id = await rig.add()
    for attempt in (1, 2):  # INGEST_MAX_ATTEMPTS=2
        claim = await service.claim_document(runtime=rig.runtime, document_id=document_id)
        assert claim is not None
        assert claim.attempt == attempt
        await rig.expire_lease(document_id)
        recovery = await rig.sweep()
    assert recovery == service.Recovery(failed=1)
    document, job = await rig.state(document_id)
    assert document.status == "failed"
    assert document.failure_reason is not None
    assert "interrupted 2 time(s)" in document.failure_reason
    assert job.content is None
    assert rig.sent == [document_id, document_id]  # the first take-back only
    await service.ingest_document(runtime=rig.runtime, document_id=document_id)
    assert (await rig.state(document_id))[0].status == "failed"  # nothing runs it again


async def test_a_run_that_lost_its_document_cannot_write(rig: Rig, embedder: Any) -> None:
    document_id = await rig.add()
    stale = await service.claim_document(runtime=rig.runtime, document_id=document_id)
    assert stale is not None
    await rig.expire_lease(document_id)
    await rig.sweep()
    current = await service.claim_document(runtime=rig.runtime, document_id=document_id)
    assert current is not None
    assert current.attempt == stale.attempt + 1

    await service.process_claimed(runtime=rig.runtime, claim=stale)  # it wakes up late
    document, _ = await rig.state(document_id)
    assert document.status == "processing"
    assert document.progress_total == 0
    assert await rig.chunks(document_id) == 0
    assert embedder.calls == 0  # it stopped at its first write, before embedding

    await service.process_claimed(runtime=rig.runtime, claim=current)
    assert (await rig.state(document_id))[0].status == "ready"


async def test_a_deleted_document_stops_its_run(rig: Rig) -> None:
    document_id = await rig.add()
    claim = await service.claim_document(runtime=rig.runtime, document_id=document_id)
    assert claim is not None
    async with rig.runtime.db.transaction() as session:
        document = await session.get(Document, document_id)
        assert document is not None
        await service.delete_document(session=session, store=rig.runtime.store, document=document)
    await service.process_claimed(runtime=rig.runtime, claim=claim)
    assert await rig.chunks(document_id) == 0


async def test_a_lost_message_is_sent_again(rig: Rig) -> None:
    class Unreachable(IngestQueue):
        async def enqueue(self, document_id: uuid.UUID) -> None:
            raise ConnectionError("redis is down")

    async def never(document_id: str) -> None:
        raise AssertionError("nothing is delivered")

    working = rig.queue
    rig.queue = Unreachable(InMemoryBroker(), never)
    document_id = await rig.add()  # committed; the send after the commit failed
    rig.queue = working
    document, _ = await rig.state(document_id)
    assert document.status == "queued"
    assert rig.sent == []

    await rig.expire_lease(document_id)
    assert await rig.sweep() == service.Recovery(resent=1)
    assert rig.sent == [document_id]
    assert (await rig.state(document_id))[0].status == "queued"


async def test_two_sweepers_take_a_document_back_once(rig: Rig) -> None:
    document_id = await rig.add()
    await service.claim_document(runtime=rig.runtime, document_id=document_id)
    await rig.expire_lease(document_id)
    first, second = await asyncio.gather(rig.sweep(), rig.sweep())
    assert first.requeued + second.requeued == 1
    assert rig.sent == [document_id, document_id]


async def test_a_claimed_document_is_not_claimed_twice(rig: Rig) -> None:
    document_id = await rig.add()
    claims = await asyncio.gather(
        service.claim_document(runtime=rig.runtime, document_id=document_id),
        service.claim_document(runtime=rig.runtime, document_id=document_id),
    )
    assert sum(claim is not None for claim in claims) == 1
    assert (await rig.state(document_id))[1].attempts == 1
