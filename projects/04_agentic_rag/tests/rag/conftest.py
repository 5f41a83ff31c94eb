"""One MiniLM (its weights load once, about 90 MB) and one chunker for the whole session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentic_rag.rag.chunking import Chunker
from agentic_rag.rag.minilm import MiniLM

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def minilm() -> MiniLM:
    return MiniLM()


@pytest.fixture(scope="session")
def chunker() -> Chunker:
    return Chunker.for_minilm()


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
