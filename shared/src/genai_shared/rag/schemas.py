"""Request and response bodies of collections and search."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from genai_shared.rag.retrieval import Rerank, SearchMode
from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

MAX_QUERY_CHARS = 2000
MAX_FILTER_IDS = 100


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the query must contain more than whitespace")
    return value


CollectionName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Query = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS), AfterValidator(_not_blank)
]
IdList = Annotated[list[uuid.UUID], Field(max_length=MAX_FILTER_IDS)]


class CollectionCreate(RequestModel):
    name: CollectionName
    description: Annotated[str, Field(max_length=2000)] = ""


class CollectionPublic(CustomModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    description: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class SearchRequest(RequestModel):
    query: Query
    # Hybrid by default: keyword search finds exact names, codes and rare words that a
    # small embedding model blurs, semantic search finds paraphrases that share no word,
    # and rank fusion needs no tuning between the two; it costs one query embedding and
    # two lookups, the same embedding semantic search needs anyway.
    mode: SearchMode = SearchMode.HYBRID
    limit: Annotated[
        int | None,
        Field(ge=1, le=200, description="How many chunks; capped by SEARCH_MAX_LIMIT"),
    ] = None
    collection_ids: IdList | None = Field(
        default=None, description="Only these collections of yours (all of them if absent)"
    )
    document_ids: IdList | None = Field(default=None, description="Only these documents")
    rerank: Rerank | None = Field(
        default=None, description="mmr: diversify the results (maximal marginal relevance)"
    )
    mmr_lambda: Annotated[float | None, Field(ge=0, le=1)] = Field(
        default=None, description="MMR trade-off: 1 = relevance only, 0 = diversity only"
    )


class Citation(CustomModel):
    """Where a chunk comes from: enough to quote it and to open the source at that place."""

    document_id: uuid.UUID
    document_title: str
    source: str
    collection_id: uuid.UUID
    ordinal: int = Field(description="The chunk's position in its document, from 0")
    page: int | None = Field(description="First page (1-based); null without pages")
    last_page: int | None
    char_start: int = Field(description="Offset of the chunk in the document's text")
    char_end: int
    heading_path: list[str]


class SearchResult(CustomModel):
    chunk_id: uuid.UUID
    score: float = Field(description="The mode's score: cosine, keyword rank or fused RRF")
    semantic_score: float | None = None
    keyword_score: float | None = None
    text: str
    citation: Citation


class SearchResponse(CustomModel):
    query: str
    mode: SearchMode
    rerank: Rerank | None
    limit: int
    results: list[SearchResult]
