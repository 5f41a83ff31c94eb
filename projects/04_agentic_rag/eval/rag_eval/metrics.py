"""Retrieval metrics over character spans: recall@k, nDCG@k and reciprocal rank.

A ranking is a list of retrieved chunks, each a :class:`Span` of a corpus file; a
question's answers are the spans of its labelled passages. A chunk's *grade* for a
question is 2 when it contains a whole answer passage, 1 when it overlaps one only in
part, 0 otherwise. Because grades come from overlaps, the same labels judge any chunking.

- **recall@k** counts passages, not chunks: the share of the question's passages that at
  least one of the top k chunks overlaps. (Counting relevant chunks instead would punish a
  chunker whose overlap windows put one passage into two chunks.)
- **nDCG@k** uses the grades as linear gains, ``gain / log2(rank + 1)``, as trec_eval and
  BEIR do; the ideal ranking is the corpus's own chunks sorted by grade, so it is
  computed against every chunk that could have been returned.
- **reciprocal rank@k** is ``1 / rank`` of the first chunk with a grade above 0 in the top
  k, else 0; its mean over questions is MRR@k.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from rag_eval.labels import Span


def grade(chunk: Span, answers: Sequence[Span]) -> int:
    """2: the chunk holds a whole passage; 1: it overlaps one; 0: neither."""
    if any(chunk.contains(answer) for answer in answers):
        return 2
    if any(chunk.overlaps(answer) for answer in answers):
        return 1
    return 0


def recall_at_k(ranking: Sequence[Span], answers: Sequence[Span], k: int) -> float:
    """The share of answer passages that some chunk of the top ``k`` overlaps."""
    if not answers:
        raise ValueError("a question needs at least one answer passage")
    top = ranking[:k]
    found = sum(any(chunk.overlaps(answer) for chunk in top) for answer in answers)
    return found / len(answers)


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of gains listed best rank first (rank 1 is undiscounted)."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(
    ranking: Sequence[Span], answers: Sequence[Span], corpus_chunks: Iterable[Span], k: int
) -> float:
    """DCG of the top ``k`` over the best DCG any ``k`` corpus chunks could reach."""
    ideal = sorted((grade(chunk, answers) for chunk in corpus_chunks), reverse=True)[:k]
    best = dcg(ideal)
    if best == 0:
        raise ValueError("no corpus chunk overlaps the answers: the labels do not fit the corpus")
    return dcg(grade(chunk, answers) for chunk in ranking[:k]) / best


def reciprocal_rank(ranking: Sequence[Span], answers: Sequence[Span], k: int) -> float:
    """``1 / rank`` of the first relevant chunk in the top ``k``, 0 when there is none."""
    for rank, chunk in enumerate(ranking[:k], start=1):
        if grade(chunk, answers) > 0:
            return 1.0 / rank
    return 0.0
