"""A project of the tests' own for the shared ingestion: four tables on a ``Base`` of its
own (the columns every project's document, chunk and collection rows have, and
``IngestJobColumns``), a chunk index writing rows and vectors, and a rig that drives
``Ingestion`` step by step.

The queue records what it is sent instead of running it, so each step is the test's:
``rig.ingest`` runs a document's ingestion, ``claim_document`` without
``process_claimed`` is a worker that died. Tests take all of it from the ``rig`` fixture
(``rig.ingestion``, ``rig.models``): a conftest is not imported by name. ``backend`` runs
each test on SQLite, then on PostgreSQL (integration), where claims and sweeps really race.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ForeignKey, Integer, String, Text, Uuid, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from taskiq import InMemoryBroker

from genai_shared.db.base import TimestampMixin, UUIDPrimaryKeyMixin, new_metadata, utcnow
from genai_shared.db.session import Database
from genai_shared.ingest.config import IngestSettings
from genai_shared.ingest.models import IngestJobColumns
from genai_shared.ingest.queue import IngestQueue
from genai_shared.ingest.service import (
    Ingestion,
    IngestRuntime,
    Recovery,
    SourceDocument,
)
from genai_shared.rag import chunking
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import Vector
from genai_shared.rag.stores import VectorPoint, VectorStore
from genai_shared.testing.ingest_fixtures import CountingEmbedder

GUIDE = b"# Herons\n\nThey wade.\n\n## Nests\n\nIn colonies.\n"
TASK_NAME = "genai_shared.tests.ingest"


class Base(DeclarativeBase):
    metadata = new_metadata()


class Collection(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "collection"

    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class Document(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    __tablename__ = "document"

    collection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("collection.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(2048))
    content_type: Mapped[str] = mapped_column(String(128))
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Chunk(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "chunk"

    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("document.id", ondelete="CASCADE")
    )
    collection_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    ordinal: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    last_page: Mapped[int | None] = mapped_column(Integer, default=None)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)


class IngestJob(IngestJobColumns, Base):
    pass


class Models:
    """The test project's tables, for tests that read rows (``rig.models.Chunk``)."""

    Collection = Collection
    Document = Document
    Chunk = Chunk
    IngestJob = IngestJob


class TableChunks:
    """The chunk index of this test project: rows in ``chunk``, vectors in the store (a
    project's is its ``rag.service``, which also keeps a keyword index)."""

    async def store_document_chunks(
        self,
        *,
        session: AsyncSession,
        store: VectorStore,
        document: Document,
        chunks: Sequence[chunking.Chunk],
        vectors: Sequence[Vector],
    ) -> list[Chunk]:
        ordinals = [chunk.ordinal for chunk in chunks]
        await session.execute(
            delete(Chunk).where(Chunk.document_id == document.id, Chunk.ordinal.in_(ordinals))
        )
        rows = [
            Chunk(
                id=uuid.uuid5(document.id, f"chunk:{chunk.ordinal}"),
                document_id=document.id,
                collection_id=document.collection_id,
                owner_id=document.owner_id,
                ordinal=chunk.ordinal,
                page=chunk.page,
                last_page=chunk.last_page,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                text=chunk.text,
                token_count=chunk.token_count,
            )
            for chunk in chunks
        ]
        session.add_all(rows)
        await session.flush()
        await store.upsert(
            [
                VectorPoint(
                    id=row.id,
                    vector=vector,
                    owner_id=row.owner_id,
                    collection_id=row.collection_id,
                    document_id=row.document_id,
                )
                for row, vector in zip(rows, vectors, strict=True)
            ]
        )
        return rows

    async def delete_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, document: Document
    ) -> None:
        await store.delete_document(document.owner_id, document.id)
        await session.execute(delete(Chunk).where(Chunk.document_id == document.id))

    async def copy_document_chunks(
        self, *, session: AsyncSession, store: VectorStore, source: Document, target: Document
    ) -> int:
        rows = list(
            await session.scalars(
                select(Chunk).where(Chunk.document_id == source.id).order_by(Chunk.ordinal)
            )
        )
        vectors = await store.fetch_vectors(source.owner_id, [row.id for row in rows])
        if len(vectors) != len(rows):
            raise LookupError("vectors missing")
        copies = [
            chunking.Chunk(
                document_id=str(target.id),
                ordinal=row.ordinal,
                heading_path=(),
                page=row.page,
                last_page=row.last_page,
                char_start=row.char_start,
                char_end=row.char_end,
                text=row.text,
                token_count=row.token_count,
            )
            for row in rows
        ]
        await self.store_document_chunks(
            session=session,
            store=store,
            document=target,
            chunks=copies,
            vectors=[vectors[row.id] for row in rows],
        )
        return len(copies)


ingestion = Ingestion(
    document_model=Document,
    job_model=IngestJob,
    chunk_model=Chunk,
    index=TableChunks(),
    task_name=TASK_NAME,
)


@dataclass
class Rig:
    """The test project's database, store and ingestion, with a collection to add to."""

    runtime: IngestRuntime
    queue: IngestQueue
    collection: Collection
    sent: list[uuid.UUID] = field(default_factory=list)
    ingestion: Ingestion[Document] = field(default_factory=lambda: ingestion)
    models: Any = field(default_factory=lambda: Models)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def store(self) -> VectorStore:
        return self.runtime.store

    @property
    def settings(self) -> IngestSettings:
        return self.runtime.settings

    @property
    def embedder(self) -> CountingEmbedder:
        embedder = self.runtime.embedder
        assert isinstance(embedder, CountingEmbedder)
        return embedder

    def configure(self, **values: Any) -> None:
        """Run with these settings from now on (``ingest_max_pages=2``...)."""
        self.runtime.settings = IngestSettings(**(self.settings.model_dump() | values))

    async def new_collection(self, owner_id: uuid.UUID | None = None) -> Collection:
        async with self.db.transaction() as session:
            collection = Collection(owner_id=owner_id or uuid.uuid4())
            session.add(collection)
        return collection

    async def add(
        self,
        content: bytes = GUIDE,
        *,
        media_type: str | None = "text/markdown",
        source: str = "g.md",
        collection: Collection | None = None,
    ) -> uuid.UUID:
        """Store a document as the upload route does (the queue is told after the commit)."""
        document = await self.create(
            SourceDocument(content=content, media_type=media_type, source=source, title="g"),
            collection=collection,
        )
        return document.id

    async def create(
        self, source: SourceDocument, *, collection: Collection | None = None
    ) -> Document:
        async with self.db.transaction() as session:
            document = await ingestion.create_document(
                session=session,
                queue=self.queue,
                settings=self.settings,
                collection=collection or self.collection,
                source=source,
            )
        await asyncio.sleep(0)  # let the in-memory broker hand the message over
        return document

    async def ingest(self, document_id: uuid.UUID) -> Document:
        """Run the document's ingestion to its end, as a worker would; its row after."""
        await ingestion.ingest_document(runtime=self.runtime, document_id=document_id)
        return (await self.state(document_id))[0]

    async def state(self, document_id: uuid.UUID) -> tuple[Document, IngestJob]:
        async with self.db.sessionmaker() as session:
            document = await session.get(Document, document_id)
            job = await session.get(IngestJob, document_id)
        assert document is not None
        assert job is not None
        return document, job

    async def expire_lease(self, document_id: uuid.UUID) -> None:
        """Let the lease run out now, as it would after INGEST_LEASE_SECONDS of silence."""
        async with self.db.transaction() as session:
            await session.execute(
                update(IngestJob)
                .where(IngestJob.document_id == document_id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )

    async def sweep(self) -> Recovery:
        recovery = await ingestion.recover_abandoned(
            db=self.db, queue=self.queue, settings=self.settings
        )
        await asyncio.sleep(0)
        return recovery

    async def chunk_rows(self, document_id: uuid.UUID) -> list[Chunk]:
        async with self.db.sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)
                )
            )

    async def chunks(self, document_id: uuid.UUID) -> int:
        async with self.db.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.document_id == document_id)
            )
        return int(count or 0)


@pytest.fixture
async def database(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The test project's tables on ``backend``, dropped afterwards (PostgreSQL's database
    lives for the session)."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield db
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
        await db.dispose()


@pytest.fixture
async def rig(
    database: Database,
    make_store: Any,
    counting_embedder: CountingEmbedder,
    chunker: Chunker,
    tmp_path: Path,
) -> AsyncIterator[Rig]:
    store = await make_store("qdrant", dimensions=counting_embedder.dimensions)
    runtime = IngestRuntime(
        db=database,
        embedder=counting_embedder,
        store=store,
        chunker=chunker,
        settings=IngestSettings(ingest_max_attempts=2, ingest_queue_name=tmp_path.name),
    )
    sent: list[uuid.UUID] = []

    async def record(document_id: str) -> None:
        sent.append(uuid.UUID(document_id))

    queue = IngestQueue(InMemoryBroker(await_inplace=True), record, task_name=TASK_NAME)
    await queue.start()
    rig = Rig(runtime=runtime, queue=queue, collection=Collection(), sent=sent)
    rig.collection = await rig.new_collection()
    try:
        yield rig
    finally:
        await queue.stop()
