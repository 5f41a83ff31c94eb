"""Ranking (``genai_shared.rag.retrieval``), with ``retrieve`` bound to this project's
keyword search."""

from __future__ import annotations

from functools import partial

from agentic_rag.rag import keyword
from genai_shared.rag.retrieval import (
    RankedChunk,
    Rerank,
    RetrievalOptions,
    SearchMode,
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
)
from genai_shared.rag.retrieval import retrieve as _retrieve

__all__ = [
    "RankedChunk",
    "Rerank",
    "RetrievalOptions",
    "SearchMode",
    "maximal_marginal_relevance",
    "reciprocal_rank_fusion",
    "retrieve",
]

retrieve = partial(_retrieve, keyword=keyword.index)
