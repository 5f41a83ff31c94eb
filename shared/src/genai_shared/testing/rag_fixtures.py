"""Retrieval fixtures shared by every project that embeds, chunks or parses documents.

- ``minilm``: the real all-MiniLM-L6-v2 in numpy, loaded once per session (about 90 MB).
- ``chunker``: the MiniLM-sized chunker, once per session.
- ``make_pdf``: ``build_pdf`` as a fixture, for PDF uploads and the parser tests.

The model loads only when a test asks for it, so a run that needs none pays nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import pytest

from genai_shared.rag.chunking import Chunker
from genai_shared.rag.minilm import MiniLM


@pytest.fixture(scope="session")
def minilm() -> MiniLM:
    return MiniLM()


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
