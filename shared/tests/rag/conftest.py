"""Fixtures of the rag tests (``minilm`` and ``chunker`` come from the plugin).

- ``reference`` and ``fixture_texts``: the vectors the numpy MiniLM is checked against.
- ``world``: the rag models declared on a test ``Base`` the way a project declares
  them, created on SQLite then on the embedded PostgreSQL, with the service and the
  keyword search over them.
- ``search_world``: the same with the real MiniLM as embedder, on embedded Qdrant then
  pgvector, searched through ``RagService.search``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, new_metadata
from genai_shared.db.session import Database
from genai_shared.rag import chunking
from genai_shared.rag.config import RagSettings
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder
from genai_shared.rag.keyword import KeywordHit, KeywordSearch
from genai_shared.rag.minilm import MiniLM
from genai_shared.rag.models import ChunkColumns, CollectionColumns, DocumentColumns
from genai_shared.rag.schemas import SearchRequest, SearchResponse
from genai_shared.rag.service import RagService, search_options
from genai_shared.rag.stores import SearchFilters, VectorStore
from genai_shared.rag.stores.qdrant import QdrantStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """sentence-transformers' own vectors (scripts/make_reference_embeddings.py)."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "minilm_reference.json").read_text(encoding="utf-8")
    )
    return data


@pytest.fixture(scope="session")
def fixture_texts() -> list[str]:
    """The texts the reference vectors were made from."""
    data = json.loads((FIXTURES / "embedding_texts.json").read_text(encoding="utf-8"))
    texts: list[str] = data["texts"]
    return texts


# --- a schema of the rag models, as a project declares them ---------------------------------


class RagTestBase(DeclarativeBase):
    metadata = new_metadata()


class User(UUIDPrimaryKeyMixin, RagTestBase):
    """The ``user`` table the rag models' owners refer to (a project has its own)."""

    __tablename__ = "user"

    email: Mapped[str] = mapped_column(String(320))


class Collection(CollectionColumns, RagTestBase):
    pass


class Document(DocumentColumns, RagTestBase):
    pass


class Chunk(ChunkColumns, RagTestBase):
    pass


KEYWORD = KeywordSearch(Chunk)
SERVICE = RagService(Collection, Document, Chunk, KEYWORD)


def make_chunks(document_id: uuid.UUID, texts: Sequence[str]) -> list[chunking.Chunk]:
    """One chunk per text, with offsets as if the texts were joined by blank lines."""
    chunks, offset = [], 0
    for ordinal, text in enumerate(texts):
        chunks.append(
            chunking.Chunk(
                document_id=str(document_id),
                ordinal=ordinal,
                heading_path=(),
                page=None,
                last_page=None,
                char_start=offset,
                char_end=offset + len(text),
                text=text,
                token_count=len(text.split()) + 2,
            )
        )
        offset += len(text) + 2
    return chunks


@dataclass
class RagWorld:
    """A database with the rag tables, a vector store, and helpers to fill them."""

    db: Database
    store: VectorStore

    # The schema and what runs over it, for the tests' own statements (not dataclass fields).
    base = RagTestBase
    user_model = User
    collection_model = Collection
    document_model = Document
    chunk_model = Chunk
    service = SERVICE
    keyword = KEYWORD
    chunks_for = staticmethod(make_chunks)

    async def user(self) -> uuid.UUID:
        async with self.db.transaction() as session:
            user = User(email=f"{uuid.uuid4().hex[:10]}@example.com")
            session.add(user)
        return user.id

    async def collection(self, owner: uuid.UUID) -> uuid.UUID:
        async with self.db.transaction() as session:
            collection = Collection(owner_id=owner, name=uuid.uuid4().hex)
            session.add(collection)
        return collection.id

    async def document(self, owner: uuid.UUID, collection: uuid.UUID, *texts: str) -> Document:
        """A document whose chunks (one per text) are written through the service, with
        2-dimensional vectors."""
        async with self.db.transaction() as session:
            document = Document(
                owner_id=owner,
                collection_id=collection,
                title="Doc",
                source="doc.txt",
                content_type="text/plain",
                content_hash=uuid.uuid4().hex,
            )
            session.add(document)
            await session.flush()
            await SERVICE.store_document_chunks(
                session=session,
                store=self.store,
                document=document,
                chunks=make_chunks(document.id, texts),
                vectors=[[1.0, float(i)] for i in range(len(texts))],
            )
        return document

    async def search(
        self, owner: uuid.UUID, query: str, filters: SearchFilters | None = None, limit: int = 10
    ) -> list[KeywordHit]:
        async with self.db.transaction() as session:
            return await KEYWORD.search(
                session=session, owner_id=owner, query=query, limit=limit, filters=filters
            )

    async def texts(self, hits: list[KeywordHit]) -> list[str]:
        async with self.db.transaction() as session:
            rows = dict(
                (
                    await session.execute(
                        select(Chunk.id, Chunk.text).where(Chunk.id.in_([h.id for h in hits]))
                    )
                ).all()
            )
        return [rows[h.id] for h in hits]


@asynccontextmanager
async def open_world(url: str) -> AsyncIterator[RagWorld]:
    """The rag tables created on ``url`` (``create_all``, which makes SQLite's keyword
    index too) and a 2-dimensional in-memory Qdrant."""
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(RagTestBase.metadata.create_all)
    store = QdrantStore(dimensions=2, path=":memory:")
    try:
        yield RagWorld(db, store)
    finally:
        await store.close()
        await db.dispose()


SectionSpec = str | dict[str, Any]
"""A chunk's text, or a dict with its ``text``, ``heading_path`` and ``page``."""


@dataclass
class SearchWorld(RagWorld):
    """A ``RagWorld`` whose chunks are embedded by the real MiniLM, searched through
    ``RagService.search`` as the projects' ``POST /search`` does."""

    embedder: Embedder = field(kw_only=True)
    settings: RagSettings = field(kw_only=True)

    async def add_document(
        self,
        owner: uuid.UUID,
        collection: uuid.UUID,
        sections: Sequence[SectionSpec],
        *,
        title: str = "A document",
        source: str = "notes.md",
    ) -> Document:
        """A ready document with one chunk per section, offsets as if the sections were
        joined by blank lines."""
        specs = [{"text": s} if isinstance(s, str) else s for s in sections]
        async with self.db.transaction() as session:
            document = Document(
                owner_id=owner,
                collection_id=collection,
                title=title,
                source=source,
                content_type="text/markdown",
                content_hash=uuid.uuid4().hex,
                status="ready",
            )
            session.add(document)
            await session.flush()
            chunks = [
                replace(
                    chunk,
                    heading_path=tuple(spec.get("heading_path", ())),
                    page=spec.get("page"),
                    last_page=spec.get("page"),
                )
                for chunk, spec in zip(
                    make_chunks(document.id, [spec["text"] for spec in specs]), specs, strict=True
                )
            ]
            vectors = await self.embedder.embed([chunk.text for chunk in chunks])
            await SERVICE.store_document_chunks(
                session=session,
                store=self.store,
                document=document,
                chunks=chunks,
                vectors=vectors,
            )
        return document

    async def search_as(self, owner: uuid.UUID, **body: Any) -> SearchResponse:
        """``body`` is a search request's JSON, validated as the API validates it."""
        request = SearchRequest.model_validate(body)
        async with self.db.transaction() as session:
            return await SERVICE.search(
                session=session,
                store=self.store,
                embedder=self.embedder,
                owner_id=owner,
                request=request,
                options=search_options(self.settings, request),
            )


@pytest.fixture(scope="session")
def embedder(minilm: MiniLM) -> Embedder:
    """The real MiniLM, loaded once per session (``minilm`` from the plugin)."""
    return MiniLMEmbedder(model=minilm)


@pytest.fixture
def rag_settings() -> RagSettings:
    """The search defaults, as a project's settings have them with no environment."""
    return RagSettings(_env_file=None)


@pytest.fixture
async def search_world(
    store_kind: str, make_store, embedder: Embedder, rag_settings: RagSettings, tmp_path: Path
) -> AsyncIterator[SearchWorld]:
    """A ``SearchWorld`` on SQLite with embedded Qdrant, then pgvector, as its store."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/search.db")
    async with db.engine.begin() as conn:
        await conn.run_sync(RagTestBase.metadata.create_all)
    store = await make_store(store_kind, dimensions=embedder.dimensions)
    try:
        yield SearchWorld(db, store, embedder=embedder, settings=rag_settings)
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pgvector)])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RagWorld]:
    """A ``RagWorld`` on SQLite, then on the embedded PostgreSQL (a fresh database)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/rag.db"
    else:
        server = request.getfixturevalue("embedded_postgres")
        url = server.url(await server.new_database())
    async with open_world(url) as world:
        yield world


@pytest.fixture
def open_rag_world() -> Callable[[str], AbstractAsyncContextManager[RagWorld]]:
    """``async with open_rag_world(url) as world:`` for a test that picks its database."""
    return open_world
