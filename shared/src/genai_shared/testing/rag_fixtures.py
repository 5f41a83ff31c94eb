"""Retrieval fixtures shared by every project that embeds, chunks or parses documents.

- ``minilm``: the real all-MiniLM-L6-v2 in numpy, loaded once per session (about 90 MB).
- ``chunker``: the MiniLM-sized chunker, once per session.
- ``make_pdf``: ``build_pdf`` as a fixture, for PDF uploads and the parser tests.
- ``make_store``: an open, empty vector store (embedded Qdrant, or pgvector on the
  ``vector_database`` of ``embedded_pg``); ``store_kind``: ``"qdrant"``, then ``"pgvector"``
  (marked ``pgvector``), to run a test on both.

The model loads only when a test asks for it, so a run that needs none pays nothing.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from genai_shared.rag.chunking import Chunker
from genai_shared.rag.minilm import MiniLM, process_minilm
from genai_shared.rag.stores import VectorStore


@pytest.fixture(scope="session")
def minilm() -> MiniLM:
    """The process's one MiniLM (``process_minilm``), the one the apps under test use."""
    return process_minilm()


@pytest.fixture(scope="session")
def chunker() -> Chunker:
    return Chunker.for_minilm()


def _pdf_string(line: str) -> str:
    return "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def build_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF whose page i shows the lines ``pages[i]`` in Helvetica (pypdf's writer)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        shown = " T* ".join(f"{_pdf_string(line)} Tj" for line in lines)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_pdf() -> Callable[[Sequence[Sequence[str]]], bytes]:
    return build_pdf


# --- vector stores ---------------------------------------------------------------------------

StoreFactory = Callable[..., Awaitable[VectorStore]]


@pytest.fixture
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """``await make_store("qdrant" | "pgvector", dimensions=...)``: an open, empty store
    (embedded Qdrant in a tmp folder; pgvector on a table of the test's own)."""
    # Imported on use: qdrant-client alone adds over a second to every test run's start.
    from genai_shared.rag.stores.pgvector import PgVectorStore
    from genai_shared.rag.stores.qdrant import QdrantStore

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
