"""Ingestion: documents in (an upload or a URL), chunks and vectors out, off the request.

The request side (``create_document``, ``fetch_source``) checks the type and size,
stores the document as ``queued`` with its bytes and content hash, and has the queue
told once the transaction has committed. A task (``ingest_document``) then claims it
(``processing``), parses, chunks, embeds in batches (moving ``progress`` and the lease
after each), stores the chunks and marks it ``ready``; any failure marks it ``failed``
with a reason a user can read.

Crash safety rests on three rules:

- a run starts only by claiming a ``queued`` document, which counts an attempt;
- every later write of a run is fenced on that attempt number and the ``processing``
  status, so a run that lost its document (taken back by the sweep) can no longer
  write, and stops;
- ``recover_abandoned`` takes back documents whose lease ran out: ``processing`` ones
  are re-queued (failed once ``INGEST_MAX_ATTEMPTS`` runs have started, so a document
  that kills its worker every time ends ``failed``), ``queued`` ones are sent again.

Projects 04 and 05 ingest the same way into tables of their own, so the steps that touch
rows are methods of ``Ingestion``, built once per project from its document, job and
chunk models and its chunk index (the ``rag`` service that writes chunk rows, the keyword
index and vectors together). Everything else is plain functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Generic, Protocol, TypeVar

import anyio.to_thread
from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.pagination import Page, keyset_page
from genai_shared.db.session import Database, after_commit
from genai_shared.ingest.config import IngestSettings
from genai_shared.ingest.exceptions import (
    DocumentTooLarge,
    EmptyDocument,
    UnsupportedDocumentType,
    URLFetchFailed,
    URLNotAllowed,
)
from genai_shared.ingest.fetch import (
    DEFAULT_CONTENT_TYPES,
    FetchError,
    FetchPolicy,
    FetchTooLarge,
    UnsafeURL,
    fetch_url,
)
from genai_shared.ingest.parsers import (
    SUPPORTED_MEDIA_TYPES,
    DocumentFormat,
    ParseError,
    ParseLimits,
    detect_format,
    parse_document,
)
from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.schemas import DocumentPublic
from genai_shared.llm.errors import ProviderError
from genai_shared.rag.chunking import Chunk, Chunker
from genai_shared.rag.embeddings import Embedder, Vector
from genai_shared.rag.models import DocumentStatus
from genai_shared.rag.stores import VectorStore, VectorStoreError

logger = logging.getLogger(__name__)

MAX_REASON_CHARS: Final = 1000
# Served as a generic type, a file's name (a URL's last segment) says what it is.
FETCHABLE_CONTENT_TYPES: Final = DEFAULT_CONTENT_TYPES | {"application/octet-stream"}


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A document's bytes and what the client said about them, before it is stored."""

    content: bytes
    media_type: str | None
    source: str  # a file name or a URL
    title: str
    charset: str | None = None


class TooManyChunks(Exception):
    """The document is cut into more chunks than the limit."""


class LeaseLost(Exception):
    """This run no longer holds the document: the sweep took it back, or it was deleted."""


# --- the request side -----------------------------------------------------------------------


def build_fetch_policy(settings: IngestSettings) -> FetchPolicy:
    """How URL imports are fetched. ``allow_loopback`` stays off: tests build their own."""
    return FetchPolicy(
        max_bytes=settings.ingest_max_upload_bytes,
        timeout_seconds=settings.ingest_fetch_timeout_seconds,
        max_redirects=settings.ingest_fetch_max_redirects,
        allowed_content_types=FETCHABLE_CONTENT_TYPES,
    )


async def fetch_source(*, url: str, title: str | None, policy: FetchPolicy) -> SourceDocument:
    """Fetch ``url`` (SSRF-safe) as a document to ingest; refusals become API errors.

    Only this URL is fetched: links inside the document stay text.
    """
    try:
        fetched = await fetch_url(url, policy=policy)
    except FetchTooLarge as exc:
        raise DocumentTooLarge(exc.reason) from exc
    except UnsafeURL as exc:
        raise URLNotAllowed(exc.reason) from exc
    except FetchError as exc:
        raise URLFetchFailed(exc.reason) from exc
    return SourceDocument(
        content=fetched.content,
        media_type=fetched.content_type,
        source=fetched.url if len(fetched.url) <= 2048 else url,
        title=title or url,
        charset=fetched.charset,
    )


def check_source(source: SourceDocument, *, settings: IngestSettings) -> DocumentFormat:
    """The document's format, or the API error that refuses it (413, 415, 422)."""
    if len(source.content) > settings.ingest_max_upload_bytes:
        raise DocumentTooLarge(
            f"The document is larger than the {settings.ingest_max_upload_bytes} bytes allowed"
        )
    document_format = detect_format(source.media_type, _file_name(source.source))
    if document_format is None:
        raise UnsupportedDocumentType(
            f"Documents of type {source.media_type or 'unknown'!r} cannot be ingested",
            details=[{"supported": list(SUPPORTED_MEDIA_TYPES)}],
        )
    if not source.content.strip():
        raise EmptyDocument
    return document_format


def _file_name(source: str) -> str:
    """The last path segment of a file name or URL (what its extension is read from)."""
    return source.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- a run ----------------------------------------------------------------------------------


@dataclass
class IngestRuntime:
    """What a run needs, opened by the app's lifespan or by a worker process."""

    db: Database
    embedder: Embedder
    store: VectorStore
    chunker: Chunker
    settings: IngestSettings
    runs: set[asyncio.Task[Any]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None
    _hash_locks: dict[tuple[uuid.UUID, str], tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @property
    def slots(self) -> asyncio.Semaphore:
        """At most ``INGEST_WORKER_CONCURRENCY`` runs at once in this process."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.ingest_worker_concurrency)
        return self._slots

    @contextlib.asynccontextmanager
    async def same_content(self, owner_id: uuid.UUID, digest: str) -> AsyncIterator[None]:
        """One run at a time per owner and content in this process: a twin uploaded right
        after the first waits, then reuses its vectors instead of embedding again."""
        key = (owner_id, digest)
        lock, users = self._hash_locks.get(key, (asyncio.Lock(), 0))
        self._hash_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._hash_locks[key]
            if users == 1:
                del self._hash_locks[key]
            else:
                self._hash_locks[key] = (lock, users - 1)

    async def cancel_runs(self) -> None:
        """Stop the runs of this process (shutdown): their leases run out and the next
        sweep, in this process or another, re-queues their documents."""
        for task in list(self.runs):
            task.cancel()
        for task in list(self.runs):
            with contextlib.suppress(BaseException):
                await task


@dataclass(frozen=True, slots=True)
class Claim:
    """A run's hold on a document: what it works on, and its attempt number (its fence)."""

    document_id: uuid.UUID
    owner_id: uuid.UUID
    collection_id: uuid.UUID
    content_hash: str
    content_type: str
    content: bytes
    charset: str | None
    attempt: int


def _lease_end(settings: IngestSettings, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=settings.ingest_lease_seconds)


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def failure_reason(exc: BaseException) -> str:
    """What a user is told about a failed ingestion: the cause, never a traceback."""
    if isinstance(exc, ParseError):
        reason = exc.reason
    elif isinstance(exc, TooManyChunks):
        reason = str(exc)
    elif isinstance(exc, ProviderError):
        reason = f"the embedding model failed: {exc}"
    elif isinstance(exc, VectorStoreError):
        reason = f"the vector store failed: {exc}"
    else:
        reason = f"ingestion failed unexpectedly ({type(exc).__name__})"
    return reason[:MAX_REASON_CHARS]


@dataclass(frozen=True, slots=True)
class Recovery:
    """What one sweep did."""

    requeued: int = 0
    failed: int = 0
    resent: int = 0


# --- what a project provides ----------------------------------------------------------------


class CollectionRow(Protocol):
    """What ingestion reads of a project's collection: a document inherits its owner."""

    id: uuid.UUID
    owner_id: uuid.UUID


class DocumentRow(Protocol):
    """What ingestion reads of a project's document model (its instances)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    collection_id: uuid.UUID
    content_hash: str
    content_type: str
    status: str
    progress_total: int


class ChunkIndex(Protocol):
    """Where a document's chunks go: rows, keyword index and vectors, written together.

    A project passes its ``rag.service`` module, which has these three functions.
    """

    async def store_document_chunks(
        self,
        *,
        session: AsyncSession,
        store: VectorStore,
        document: Any,
        chunks: Sequence[Chunk],
        vectors: Sequence[Vector],
    ) -> object: ...

    async def delete_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, document: Any
    ) -> None: ...

    async def copy_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, source: Any, target: Any
    ) -> int: ...


D = TypeVar("D", bound=DocumentRow)


class Ingestion(Generic[D]):
    """The ingestion of one project: its models, its chunk index and its task's name.

    Built once per project (``ingest/service.py``); the app's routes, its lifespan and
    its worker all go through that one instance.
    """

    def __init__(
        self,
        *,
        document_model: type[D],
        job_model: type[Any],
        chunk_model: type[Any],
        index: ChunkIndex,
        task_name: str,
    ) -> None:
        self.document_model = document_model
        self.index = index
        self.task_name = task_name
        # The same classes for building queries: their columns are SQLAlchemy attributes,
        # which a protocol of instance fields cannot describe.
        self._documents: Any = document_model
        self._jobs: Any = job_model
        self._chunks: Any = chunk_model

    # --- the request side -------------------------------------------------------------------

    async def create_document(
        self,
        *,
        session: AsyncSession,
        queue: IngestQueue,
        settings: IngestSettings,
        collection: CollectionRow,
        source: SourceDocument,
    ) -> D:
        """Store ``source`` as a ``queued`` document of ``collection``'s owner, to be ingested.

        The task is sent after the commit (a worker must find the row); if sending fails,
        the document stays ``queued`` and the sweep sends it again.
        """
        document_format = check_source(source, settings=settings)
        document: D = self._documents(
            collection_id=collection.id,
            owner_id=collection.owner_id,
            title=source.title[:300],
            source=source.source[:2048],
            content_type=document_format.value,
            content_hash=content_hash(source.content),
            status=DocumentStatus.QUEUED.value,
            progress_done=0,
            progress_total=0,
        )
        session.add(document)
        await session.flush()
        session.add(
            self._jobs(
                document_id=document.id,
                content=source.content,
                charset=source.charset,
                attempts=0,
                lease_expires_at=_lease_end(settings),
            )
        )
        await session.flush()
        document_id = document.id

        async def send() -> None:
            await queue.enqueue(document_id)

        after_commit(session, send)
        return document

    async def get_owned_document(
        self, *, session: AsyncSession, document_id: uuid.UUID, owner_id: uuid.UUID
    ) -> D | None:
        return await session.scalar(
            select(self._documents).where(
                self._documents.id == document_id, self._documents.owner_id == owner_id
            )
        )

    async def list_documents(
        self, *, session: AsyncSession, collection: CollectionRow, limit: int, cursor: str | None
    ) -> Page[DocumentPublic]:
        """A collection's documents, newest first, one keyset page."""
        rows, next_cursor = await keyset_page(
            session,
            select(self._documents).where(
                self._documents.collection_id == collection.id,
                self._documents.owner_id == collection.owner_id,
            ),
            created_at=self._documents.created_at,
            row_id=self._documents.id,
            cursor=cursor,
            limit=limit,
            newest_first=True,
        )
        return Page[DocumentPublic](
            items=[DocumentPublic.model_validate(row) for row in rows], next_cursor=next_cursor
        )

    async def delete_document(
        self, *, session: AsyncSession, store: VectorStore, document: D
    ) -> None:
        """Remove the document, its chunks (keyword index included) and its vectors.

        A run still working on it finds its fence gone at its next write and stops.
        """
        await self.index.delete_document_chunks(session=session, store=store, document=document)
        await session.delete(document)
        await session.flush()

    # --- the task ------------------------------------------------------------------------

    async def ingest_document(self, *, runtime: IngestRuntime, document_id: uuid.UUID) -> None:
        """Run one document's ingestion, if it is still ``queued`` (else do nothing)."""
        current = asyncio.current_task()
        if current is not None:
            runtime.runs.add(current)
        try:
            async with runtime.slots:
                await self._claim_and_run(runtime, document_id)
        finally:
            if current is not None:
                runtime.runs.discard(current)

    async def _claim_and_run(self, runtime: IngestRuntime, document_id: uuid.UUID) -> None:
        claim = await self.claim_document(runtime=runtime, document_id=document_id)
        if claim is not None:
            await self.process_claimed(runtime=runtime, claim=claim)

    async def process_claimed(self, *, runtime: IngestRuntime, claim: Claim) -> None:
        """Everything after the claim: parse, chunk, embed, store, ``ready``; or ``failed``.

        Stops quietly if the document is taken back from it meanwhile.
        """
        heartbeat = asyncio.create_task(self._heartbeat(runtime, claim), name="ingest-heartbeat")
        try:
            async with runtime.same_content(claim.owner_id, claim.content_hash):
                await self._run(runtime, claim)
        except LeaseLost:
            logger.warning("document %s was taken back from this run; stopping", claim.document_id)
        except Exception as exc:
            await self._fail_run(runtime, claim, exc)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def claim_document(
        self, *, runtime: IngestRuntime, document_id: uuid.UUID
    ) -> Claim | None:
        """A run's first step: ``queued`` -> ``processing``, one more attempt, a fresh lease.

        None if the document is not ``queued`` (another run has it, or it is settled). A
        worker that dies after this leaves the document ``processing`` until its lease ends.
        """
        now = utcnow()
        async with runtime.db.transaction() as session:
            claimed = await session.execute(
                update(self._documents)
                .where(
                    self._documents.id == document_id,
                    self._documents.status == DocumentStatus.QUEUED.value,
                )
                .values(
                    status=DocumentStatus.PROCESSING.value,
                    progress_done=0,
                    progress_total=0,
                    failure_reason=None,
                    updated_at=now,
                )
            )
            if _rowcount(claimed) != 1:
                return None
            await session.execute(
                update(self._jobs)
                .where(self._jobs.document_id == document_id)
                .values(
                    attempts=self._jobs.attempts + 1,
                    lease_expires_at=_lease_end(runtime.settings, now),
                    updated_at=now,
                )
            )
            row = (
                await session.execute(
                    select(self._documents, self._jobs)
                    .join(self._jobs, self._jobs.document_id == self._documents.id)
                    .where(self._documents.id == document_id)
                )
            ).one_or_none()
            if row is None:  # a document without its job row cannot be ingested
                await session.execute(
                    update(self._documents)
                    .where(self._documents.id == document_id)
                    .values(
                        status=DocumentStatus.FAILED.value, failure_reason="its upload was lost"
                    )
                )
                return None
            document, job = row
        return Claim(
            document_id=document.id,
            owner_id=document.owner_id,
            collection_id=document.collection_id,
            content_hash=document.content_hash,
            content_type=document.content_type,
            content=job.content or b"",
            charset=job.charset,
            attempt=job.attempts,
        )

    async def _fenced_update(
        self,
        session: AsyncSession,
        runtime: IngestRuntime,
        claim: Claim,
        *,
        document: dict[str, Any] | None = None,
        job: dict[str, Any] | None = None,
    ) -> None:
        """Write as this run, or raise ``LeaseLost`` if the document is no longer its own."""
        now = utcnow()
        fence = exists().where(
            self._jobs.document_id == claim.document_id, self._jobs.attempts == claim.attempt
        )
        result = await session.execute(
            update(self._documents)
            .where(
                self._documents.id == claim.document_id,
                self._documents.status == DocumentStatus.PROCESSING.value,
                fence,
            )
            .values(updated_at=now, **(document or {}))
        )
        if _rowcount(result) != 1:
            raise LeaseLost
        await session.execute(
            update(self._jobs)
            .where(self._jobs.document_id == claim.document_id)
            .values(
                {"lease_expires_at": _lease_end(runtime.settings, now), "updated_at": now}
                | (job or {})
            )
        )

    async def _heartbeat(self, runtime: IngestRuntime, claim: Claim) -> None:
        """Keep the lease while the run works (a long parse, a slow embedding batch)."""
        interval = runtime.settings.ingest_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with runtime.db.transaction() as session:
                    await self._fenced_update(session, runtime, claim)
            except LeaseLost:
                return
            except Exception as exc:  # the database is briefly unreachable: try again
                logger.warning("ingest heartbeat of %s failed: %s", claim.document_id, exc)

    async def _run(self, runtime: IngestRuntime, claim: Claim) -> None:
        if await self._reuse_twin(runtime, claim):
            return
        chunks = await self._parse_and_chunk(runtime, claim)
        vectors = await self._embed(runtime, claim, chunks)
        async with runtime.db.transaction() as session:
            document = await self._finish(session, runtime, claim, chunks=len(chunks))
            await self.index.store_document_chunks(
                session=session,
                store=runtime.store,
                document=document,
                chunks=chunks,
                vectors=vectors,
            )

    async def _finish(
        self, session: AsyncSession, runtime: IngestRuntime, claim: Claim, *, chunks: int
    ) -> D:
        """Mark the document ready, first thing in the transaction that stores its chunks.

        Fenced first: on PostgreSQL the update locks the row until the commit, so no sweep
        can take the document back between this check and the chunks being written.
        """
        await self._fenced_update(
            session,
            runtime,
            claim,
            document={
                "status": DocumentStatus.READY.value,
                "progress_done": chunks,
                "progress_total": chunks,
                "failure_reason": None,
            },
            job={"content": None, "lease_expires_at": None},
        )
        document = await session.get(self.document_model, claim.document_id)
        if document is None:
            raise LeaseLost
        if claim.attempt > 1:  # an earlier run may have written some chunks already
            await self.index.delete_document_chunks(
                session=session, store=runtime.store, document=document
            )
        return document

    async def _parse_and_chunk(self, runtime: IngestRuntime, claim: Claim) -> list[Chunk]:
        settings = runtime.settings
        parsed = await anyio.to_thread.run_sync(
            lambda: parse_document(
                claim.content,
                document_format=DocumentFormat(claim.content_type),
                document_id=str(claim.document_id),
                charset=claim.charset,
                limits=ParseLimits(max_pages=settings.ingest_max_pages),
            )
        )
        chunks = await anyio.to_thread.run_sync(runtime.chunker.chunk, parsed)
        if not chunks:
            raise ParseError("the document has no text to index")
        if len(chunks) > settings.ingest_max_chunks:
            raise TooManyChunks(
                f"the document makes {len(chunks)} chunks, more than the "
                f"{settings.ingest_max_chunks} allowed"
            )
        async with runtime.db.transaction() as session:
            await self._fenced_update(
                session, runtime, claim, document={"progress_total": len(chunks)}
            )
        return chunks

    async def _embed(
        self, runtime: IngestRuntime, claim: Claim, chunks: Sequence[Chunk]
    ) -> list[Vector]:
        """Embed in batches; after each, record the progress (and so renew the lease)."""
        size = runtime.settings.ingest_embed_batch_size
        delay = runtime.settings.ingest_embed_delay_seconds
        vectors: list[Vector] = []
        for start in range(0, len(chunks), size):
            if delay:
                await asyncio.sleep(delay)
            batch = chunks[start : start + size]
            vectors.extend(await runtime.embedder.embed([chunk.text for chunk in batch]))
            async with runtime.db.transaction() as session:
                await self._fenced_update(
                    session, runtime, claim, document={"progress_done": len(vectors)}
                )
        return vectors

    async def _reuse_twin(self, runtime: IngestRuntime, claim: Claim) -> bool:
        """Copy the chunks and vectors of a ready document of the same owner with the same
        bytes, if there is one; False when there is none or its vectors are gone."""
        async with runtime.db.transaction() as session:
            twin = await session.scalar(
                select(self._documents)
                .where(
                    self._documents.owner_id == claim.owner_id,
                    self._documents.content_hash == claim.content_hash,
                    self._documents.status == DocumentStatus.READY.value,
                    self._documents.id != claim.document_id,
                )
                .order_by(self._documents.created_at)
                .limit(1)
            )
            if twin is None:
                return False
            count = await session.scalar(
                select(func.count())
                .select_from(self._chunks)
                .where(self._chunks.document_id == twin.id)
            )
        if not count:
            return False
        try:
            async with runtime.db.transaction() as session:
                document = await self._finish(session, runtime, claim, chunks=count)
                copied = await self.index.copy_document_chunks(
                    session=session, store=runtime.store, source=twin, target=document
                )
                if copied != count:  # the twin changed meanwhile: embed after all
                    raise LookupError("the twin's chunks changed")
        except LookupError as exc:
            logger.info("document %s cannot reuse %s: %s", claim.document_id, twin.id, exc)
            return False
        logger.info(
            "document %s reused the chunks of %s (same content)", claim.document_id, twin.id
        )
        return True

    async def _fail_run(self, runtime: IngestRuntime, claim: Claim, exc: Exception) -> None:
        expected = isinstance(exc, ParseError | TooManyChunks)
        if expected:
            logger.info("document %s failed: %s", claim.document_id, exc)
        else:
            logger.exception("ingestion of document %s failed", claim.document_id)
        try:
            async with runtime.db.transaction() as session:
                await self._fenced_update(
                    session,
                    runtime,
                    claim,
                    document={
                        "status": DocumentStatus.FAILED.value,
                        "failure_reason": failure_reason(exc),
                    },
                    job={"content": None, "lease_expires_at": None},
                )
        except LeaseLost:
            pass
        except Exception:  # the lease runs out and the sweep retries, or fails it for good
            logger.exception("could not mark document %s failed", claim.document_id)

    # --- recovery --------------------------------------------------------------------------

    async def recover_abandoned(
        self, *, db: Database, queue: IngestQueue, settings: IngestSettings, limit: int = 100
    ) -> Recovery:
        """Take back documents whose lease ran out; several sweepers at once are safe.

        Each document is changed by a conditional update (its status, attempt and lease as
        seen), so exactly one sweeper acts on it, and only that one sends its task again.
        """
        now = utcnow()
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(self._documents.id, self._documents.status, self._jobs.attempts)
                    .join(self._jobs, self._jobs.document_id == self._documents.id)
                    .where(
                        self._documents.status.in_(
                            [DocumentStatus.QUEUED.value, DocumentStatus.PROCESSING.value]
                        ),
                        self._jobs.lease_expires_at < now,
                    )
                    .order_by(self._jobs.lease_expires_at)
                    .limit(limit)
                )
            ).all()
        requeued = failed = resent = 0
        for document_id, status, attempts in rows:
            outcome = await self._take_back(
                db, settings, document_id=document_id, status=status, attempts=attempts, now=now
            )
            if outcome == DocumentStatus.FAILED:
                failed += 1
                continue
            if outcome is None:
                continue
            if status == DocumentStatus.PROCESSING.value:
                requeued += 1
            else:
                resent += 1
            try:
                await queue.enqueue(document_id)
            except Exception as exc:  # the queue is down: the next sweep sends it again
                logger.warning("could not re-queue document %s: %s", document_id, exc)
        if requeued or failed:
            logger.warning(
                "recovered abandoned documents: %d re-queued, %d failed after %d attempts",
                requeued,
                failed,
                settings.ingest_max_attempts,
            )
        return Recovery(requeued=requeued, failed=failed, resent=resent)

    async def _take_back(
        self,
        db: Database,
        settings: IngestSettings,
        *,
        document_id: uuid.UUID,
        status: str,
        attempts: int,
        now: datetime,
    ) -> DocumentStatus | None:
        """Fail, re-queue or re-send one document; None if another sweeper or a run got it."""
        give_up = (
            status == DocumentStatus.PROCESSING.value and attempts >= settings.ingest_max_attempts
        )
        new_status = DocumentStatus.FAILED if give_up else DocumentStatus.QUEUED
        seen = exists().where(
            self._jobs.document_id == document_id,
            self._jobs.attempts == attempts,
            self._jobs.lease_expires_at < now,
        )
        values: dict[str, Any] = {"status": new_status.value, "updated_at": now}
        if give_up:
            values["failure_reason"] = (
                f"ingestion was interrupted {attempts} time(s) without finishing (its worker "
                "died or hung); the document was given up"
            )
        async with db.transaction() as session:
            result = await session.execute(
                update(self._documents)
                .where(self._documents.id == document_id, self._documents.status == status, seen)
                .values(**values)
            )
            if _rowcount(result) != 1:
                return None
            job: dict[str, Any] = {"lease_expires_at": _lease_end(settings, now), "updated_at": now}
            if give_up:
                job |= {"lease_expires_at": None, "content": None}
            await session.execute(
                update(self._jobs).where(self._jobs.document_id == document_id).values(**job)
            )
        return new_status

    async def recover_forever(
        self, *, db: Database, queue: IngestQueue, settings: IngestSettings
    ) -> None:
        """``recover_abandoned`` now and every ``INGEST_SWEEP_INTERVAL_SECONDS``, until
        cancelled."""
        while True:
            try:
                await self.recover_abandoned(db=db, queue=queue, settings=settings)
            except Exception as exc:  # the database is down, or not migrated yet
                logger.warning(
                    "the ingestion recovery sweep failed (%s); retrying in %ss",
                    type(exc).__name__,
                    settings.ingest_sweep_interval_seconds,
                )
            await asyncio.sleep(settings.ingest_sweep_interval_seconds)

    @contextlib.asynccontextmanager
    async def running_queue(
        self,
        *,
        runtime: IngestRuntime,
        redis_url: str | None,
        worker: bool,
    ) -> AsyncIterator[IngestQueue]:
        """The queue, started, with its task bound to ``runtime`` and the sweep running."""

        async def handle(document_id: str) -> None:
            await self.ingest_document(runtime=runtime, document_id=uuid.UUID(document_id))

        queue = IngestQueue.from_settings(
            runtime.settings, redis_url=redis_url, handler=handle, task_name=self.task_name
        )
        await queue.start(worker=worker)
        sweeper = asyncio.create_task(
            self.recover_forever(db=runtime.db, queue=queue, settings=runtime.settings),
            name="ingest-recovery-sweep",
        )
        try:
            yield queue
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await runtime.cancel_runs()
            await queue.stop()
