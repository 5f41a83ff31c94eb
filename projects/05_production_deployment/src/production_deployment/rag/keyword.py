"""Keyword search over this project's ``chunk`` table (``genai_shared.rag.keyword``).

Importing this module hooks SQLite's FTS5 index to the ``Chunk`` model, so
``create_all`` and ``drop_all`` make and drop it with the table.
"""

from __future__ import annotations

from genai_shared.rag.keyword import (
    FTS_TABLE,
    MAX_TERMS,
    STOP_WORDS,
    KeywordHit,
    KeywordSearch,
    ensure_index,
    fts5_query,
    search_vector,
    terms,
)
from production_deployment.rag.models import Chunk

__all__ = [
    "FTS_TABLE",
    "MAX_TERMS",
    "STOP_WORDS",
    "KeywordHit",
    "ensure_index",
    "fts5_query",
    "index",
    "search",
    "search_vector",
    "terms",
]

index = KeywordSearch(Chunk)
search = index.search
