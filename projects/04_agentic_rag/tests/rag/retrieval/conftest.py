"""Retrieval fixtures: the embedder, and documents written through ``rag.service``
(ingestion is another package's job).

The vector stores come from the genai_shared plugin (``make_store``, ``store_kind``); the
pgvector ones run on its ``embedded_postgres`` (PostgreSQL 18 with pgvector,
``genai_shared.testing.embedded_pg``), and their tests are marked ``pgvector``
(``-m "not pgvector"`` leaves them out).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from agentic_rag.core.config import Settings
from agentic_rag.main import create_app
from agentic_rag.rag import service
from agentic_rag.rag.models import Document
from genai_shared.rag import chunking
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder
from genai_shared.rag.minilm import MiniLM
from genai_shared.rag.stores import VectorStore

# --- the embedder ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedder(minilm: MiniLM) -> Embedder:
    """The real MiniLM, loaded once per session (``minilm`` from the genai_shared plugin)."""
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
