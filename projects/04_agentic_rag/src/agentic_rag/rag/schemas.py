"""Request and response bodies of collections and search (``genai_shared.rag.schemas``)."""

from __future__ import annotations

from genai_shared.rag.schemas import (
    MAX_FILTER_IDS,
    MAX_QUERY_CHARS,
    Citation,
    CollectionCreate,
    CollectionPublic,
    SearchRequest,
    SearchResponse,
    SearchResult,
)

__all__ = [
    "MAX_FILTER_IDS",
    "MAX_QUERY_CHARS",
    "Citation",
    "CollectionCreate",
    "CollectionPublic",
    "SearchRequest",
    "SearchResponse",
    "SearchResult",
]
