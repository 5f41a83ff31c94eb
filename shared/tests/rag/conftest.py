"""The reference vectors the numpy MiniLM is checked against (``minilm`` and ``chunker``
come from the plugin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
