"""Crash recovery, step by step: a run that died leaves its document ``processing`` until
its lease ends; the sweep then re-queues it (or fails it once it has used its attempts),
and a run that lost its document can no longer write to it.

A worker's death is what ``claim_document`` without ``process_claimed`` leaves behind.
The rig's queue records what it is sent instead of running it (``conftest.py``), and
``INGEST_MAX_ATTEMPTS`` is 2 there.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from taskiq import InMemoryBroker

from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.service import Recovery

GUIDE = b"# Herons\n\nThey wade.\n\n## Nests\n\nIn colonies.\n"


async def test_a_dead_runs_document_is_requeued_and_finishes(rig: Any) -> None:
    document_id = await rig.add()
    assert rig.sent == [document_id]
    dead = await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
    assert dead is not None
    assert dead.attempt == 1

    assert await rig.sweep() == Recovery()  # the lease still runs: nothing to do
    assert (await rig.state(document_id))[0].status == "processing"

    await rig.expire_lease(document_id)
    assert await rig.sweep() == Recovery(requeued=1)
    document, job = await rig.state(document_id)
    assert document.status == "queued"
    assert job.content == GUIDE  # kept for the next run
    assert rig.sent == [document_id, document_id]

    await rig.ingestion.ingest_document(runtime=rig.runtime, document_id=document_id)
    document, job = await rig.state(document_id)
    assert document.status == "ready"
    assert job.attempts == 2
    assert await rig.chunks(document_id) == document.progress_total > 0
    assert rig.embedder.calls > 0


async def test_a_document_that_keeps_killing_its_worker_ends_failed(rig: Any) -> None:
    document_id = await rig.add()
    for attempt in (1, 2):  # INGEST_MAX_ATTEMPTS=2
        claim = await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
        assert claim is not None
        assert claim.attempt == attempt
        await rig.expire_lease(document_id)
        recovery = await rig.sweep()
    assert recovery == Recovery(failed=1)
    document, job = await rig.state(document_id)
    assert document.status == "failed"
    assert document.failure_reason is not None
    assert "interrupted 2 time(s)" in document.failure_reason
    assert job.content is None
    assert rig.sent == [document_id, document_id]  # the first take-back only
    await rig.ingestion.ingest_document(runtime=rig.runtime, document_id=document_id)
    assert (await rig.state(document_id))[0].status == "failed"  # nothing runs it again


async def test_a_run_that_lost_its_document_cannot_write(rig: Any) -> None:
    document_id = await rig.add()
    stale = await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
    assert stale is not None
    await rig.expire_lease(document_id)
    await rig.sweep()
    current = await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
    assert current is not None
    assert current.attempt == stale.attempt + 1

    await rig.ingestion.process_claimed(runtime=rig.runtime, claim=stale)  # it wakes up late
    document, _ = await rig.state(document_id)
    assert document.status == "processing"
    assert document.progress_total == 0
    assert await rig.chunks(document_id) == 0
    assert rig.embedder.calls == 0  # it stopped at its first write, before embedding

    await rig.ingestion.process_claimed(runtime=rig.runtime, claim=current)
    assert (await rig.state(document_id))[0].status == "ready"


async def test_a_deleted_document_stops_its_run(rig: Any) -> None:
    document_id = await rig.add()
    claim = await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
    assert claim is not None
    async with rig.runtime.db.transaction() as session:
        document = await session.get(rig.models.Document, document_id)
        assert document is not None
        await rig.ingestion.delete_document(
            session=session, store=rig.runtime.store, document=document
        )
    await rig.ingestion.process_claimed(runtime=rig.runtime, claim=claim)
    assert await rig.chunks(document_id) == 0


async def test_a_lost_message_is_sent_again(rig: Any) -> None:
    class Unreachable(IngestQueue):
        async def enqueue(self, document_id: uuid.UUID) -> None:
            raise ConnectionError("redis is down")

    async def never(document_id: str) -> None:
        raise AssertionError("nothing is delivered")

    working = rig.queue
    rig.queue = Unreachable(InMemoryBroker(), never, task_name="unreachable")
    document_id = await rig.add()  # committed; the send after the commit failed
    rig.queue = working
    document, _ = await rig.state(document_id)
    assert document.status == "queued"
    assert rig.sent == []

    await rig.expire_lease(document_id)
    assert await rig.sweep() == Recovery(resent=1)
    assert rig.sent == [document_id]
    assert (await rig.state(document_id))[0].status == "queued"


async def test_two_sweepers_take_a_document_back_once(rig: Any) -> None:
    document_id = await rig.add()
    await rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id)
    await rig.expire_lease(document_id)
    first, second = await asyncio.gather(rig.sweep(), rig.sweep())
    assert first.requeued + second.requeued == 1
    assert rig.sent == [document_id, document_id]


async def test_a_claimed_document_is_not_claimed_twice(rig: Any) -> None:
    document_id = await rig.add()
    claims = await asyncio.gather(
        rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id),
        rig.ingestion.claim_document(runtime=rig.runtime, document_id=document_id),
    )
    assert sum(claim is not None for claim in claims) == 1
    assert (await rig.state(document_id))[1].attempts == 1
