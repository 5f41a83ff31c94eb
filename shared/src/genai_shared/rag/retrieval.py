"""Ranking: semantic, keyword and hybrid retrieval, reciprocal rank fusion, MMR reranking.

:func:`retrieve` returns ranked chunk ids with their scores; the service turns them into
chunks with citations. The owner is a required argument all the way down: the vector
store and the keyword index each filter by it in their own query.

- **Reciprocal rank fusion** (Cormack et al., 2009): a chunk's fused score is the sum,
  over the rankings it appears in, of ``1 / (k + rank)``. It uses ranks only, so a cosine
  similarity and a BM25 score (different scales) need no calibration; ``k`` (60 in the
  paper) damps the weight of the very top ranks.
- **Maximal marginal relevance** (Carbonell and Goldstein, 1998): picks chunks one at a
  time, each time the one that maximises ``lambda * sim(query, c) - (1 - lambda) *
  max(sim(c, picked))``: relevant, and unlike what was already picked (near-duplicate
  chunks of one document stop crowding the results out).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.keyword import KeywordSearch
from genai_shared.rag.stores.base import SearchFilters, VectorStore


class SearchMode(StrEnum):
    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class Rerank(StrEnum):
    MMR = "mmr"


@dataclass(frozen=True, slots=True)
class RankedChunk:
    """A chunk id in a ranking, with the scores that put it there.

    ``score`` is the mode's own: cosine similarity (semantic), BM25 or ``ts_rank_cd``
    (keyword), the fused RRF score (hybrid).
    """

    id: uuid.UUID
    score: float
    semantic_score: float | None = None
    keyword_score: float | None = None


@dataclass(frozen=True, slots=True)
class RetrievalOptions:
    limit: int
    candidates: int = 50
    rrf_k: int = 60
    rerank: Rerank | None = None
    mmr_lambda: float = 0.7


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[uuid.UUID]], *, k: int = 60
) -> list[tuple[uuid.UUID, float]]:
    """Fuse rankings (best first) into one, by ``sum(1 / (k + rank))`` with 1-based ranks.

    Ties keep the order in which the ids were first seen (rankings in the order given).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    scores: dict[uuid.UUID, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = {item: position for position, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    result: np.ndarray = vectors / np.where(norms == 0, 1.0, norms)
    return result


def maximal_marginal_relevance(
    query_vector: Sequence[float],
    candidates: Sequence[uuid.UUID],
    vectors: Mapping[uuid.UUID, Sequence[float]],
    *,
    limit: int,
    lambda_: float = 0.7,
) -> list[uuid.UUID]:
    """Up to ``limit`` of ``candidates`` in MMR order, by cosine similarity.

    A candidate without a vector cannot be compared: it is left out.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError("lambda_ must be between 0 and 1")
    pool = [item for item in dict.fromkeys(candidates) if item in vectors]
    if not pool or limit < 1:
        return []
    matrix = _unit(np.asarray([vectors[item] for item in pool], dtype=np.float64))
    query = _unit(np.asarray(query_vector, dtype=np.float64))
    relevance = matrix @ query
    similarity = matrix @ matrix.T
    picked: list[int] = []
    # Highest similarity of each candidate to anything picked so far.
    redundancy = np.full(len(pool), -np.inf)
    available = np.ones(len(pool), dtype=bool)
    for _ in range(min(limit, len(pool))):
        penalty = np.where(np.isinf(redundancy), 0.0, redundancy)
        marginal = lambda_ * relevance - (1.0 - lambda_) * penalty
        marginal[~available] = -np.inf
        best = int(np.argmax(marginal))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return [pool[index] for index in picked]


@dataclass
class _Candidates:
    semantic: list[RankedChunk] = field(default_factory=list)
    keyword: list[RankedChunk] = field(default_factory=list)
    vectors: dict[uuid.UUID, list[float]] = field(default_factory=dict)


async def retrieve(
    *,
    session: AsyncSession,
    store: VectorStore,
    embedder: Embedder,
    keyword: KeywordSearch[Any],
    owner_id: uuid.UUID,
    query: str,
    mode: SearchMode,
    options: RetrievalOptions,
    filters: SearchFilters | None = None,
) -> list[RankedChunk]:
    """The owner's best chunks for ``query``, best first, at most ``options.limit``.

    ``keyword`` is the project's keyword search (over its own chunk model).
    """
    # Reranking chooses among more candidates than it returns.
    depth = max(options.limit, options.candidates) if options.rerank else options.limit
    if mode is SearchMode.HYBRID:
        depth = max(depth, options.candidates)
    found = _Candidates()
    query_vector: list[float] | None = None
    if mode is not SearchMode.KEYWORD or options.rerank is Rerank.MMR:
        (query_vector,) = await embedder.embed([query])
    if mode is not SearchMode.KEYWORD:
        assert query_vector is not None
        hits = await store.search(
            owner_id,
            query_vector,
            limit=depth,
            filters=filters,
            with_vectors=options.rerank is Rerank.MMR,
        )
        found.semantic = [RankedChunk(h.id, h.score, semantic_score=h.score) for h in hits]
        found.vectors = {h.id: h.vector for h in hits if h.vector is not None}
    if mode is not SearchMode.SEMANTIC:
        hits_kw = await keyword.search(
            session=session, owner_id=owner_id, query=query, limit=depth, filters=filters
        )
        found.keyword = [RankedChunk(h.id, h.score, keyword_score=h.score) for h in hits_kw]

    ranked = _combine(mode, found, rrf_k=options.rrf_k)
    if options.rerank is Rerank.MMR and query_vector is not None:
        missing = [chunk.id for chunk in ranked if chunk.id not in found.vectors]
        if missing:
            found.vectors.update(await store.fetch_vectors(owner_id, missing))
        by_id = {chunk.id: chunk for chunk in ranked}
        order = maximal_marginal_relevance(
            query_vector,
            [chunk.id for chunk in ranked],
            found.vectors,
            limit=options.limit,
            lambda_=options.mmr_lambda,
        )
        return [by_id[item] for item in order]
    return ranked[: options.limit]


def _combine(mode: SearchMode, found: _Candidates, *, rrf_k: int) -> list[RankedChunk]:
    if mode is SearchMode.SEMANTIC:
        return found.semantic
    if mode is SearchMode.KEYWORD:
        return found.keyword
    semantic = {chunk.id: chunk.score for chunk in found.semantic}
    lexical = {chunk.id: chunk.score for chunk in found.keyword}
    fused = reciprocal_rank_fusion(
        [[chunk.id for chunk in found.semantic], [chunk.id for chunk in found.keyword]], k=rrf_k
    )
    return [
        RankedChunk(item, score, semantic_score=semantic.get(item), keyword_score=lexical.get(item))
        for item, score in fused
    ]
