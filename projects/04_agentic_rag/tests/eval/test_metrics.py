"""The metrics on hand-made rankings, against values worked out by hand.

The corpus of these tests is six chunks; the question has two answer passages in a.md,
A1 = [100, 150) and A2 = [400, 420):

    c1 [0, 90)     a.md   grade 0 (before A1)
    c2 [80, 200)   a.md   grade 2 (holds all of A1)
    c3 [140, 300)  a.md   grade 1 (holds the end of A1)
    c4 [390, 410)  a.md   grade 1 (holds the start of A2)
    c5 [380, 500)  a.md   grade 2 (holds all of A2)
    c6 [100, 150)  b.md   grade 0 (the right offsets, another file)
"""

from __future__ import annotations

import math

import pytest
from rag_eval.labels import Span
from rag_eval.metrics import dcg, grade, ndcg_at_k, recall_at_k, reciprocal_rank

A1, A2 = Span("a.md", 100, 150), Span("a.md", 400, 420)
ANSWERS = [A1, A2]
C1, C2, C3 = Span("a.md", 0, 90), Span("a.md", 80, 200), Span("a.md", 140, 300)
C4, C5, C6 = Span("a.md", 390, 410), Span("a.md", 380, 500), Span("b.md", 100, 150)
CORPUS = [C1, C2, C3, C4, C5, C6]
RANKING = [C1, C3, C2, C6, C4]  # grades 0, 1, 2, 0, 1


def test_grades() -> None:
    assert [grade(chunk, ANSWERS) for chunk in CORPUS] == [0, 2, 1, 1, 2, 0]
    assert grade(Span("a.md", 0, 100), ANSWERS) == 0  # ends where A1 starts


def test_recall_counts_passages_reached_in_the_top_k() -> None:
    assert recall_at_k(RANKING, ANSWERS, 1) == 0.0
    assert recall_at_k(RANKING, ANSWERS, 2) == 0.5  # c3 reaches A1
    assert recall_at_k(RANKING, ANSWERS, 4) == 0.5
    assert recall_at_k(RANKING, ANSWERS, 5) == 1.0  # c4 reaches A2
    assert recall_at_k([C2, C3], ANSWERS, 5) == 0.5  # two chunks on one passage count once
    assert recall_at_k([], ANSWERS, 5) == 0.0


def test_dcg_discounts_by_log2_of_rank_plus_one() -> None:
    assert dcg([]) == 0.0
    assert dcg([3]) == 3.0
    assert dcg([0, 1, 2]) == pytest.approx(1 / math.log2(3) + 2 / math.log2(4))


def test_ndcg_against_the_ideal_ordering_of_the_corpus() -> None:
    # DCG@5 of 0, 1, 2, 0, 1 = 1/log2(3) + 2/2 + 1/log2(6) = 2.01778...
    # Ideal: grades 2, 2, 1, 1, 0 -> 2 + 2/log2(3) + 1/2 + 1/log2(5) = 4.19254...
    expected = (1 / math.log2(3) + 1 + 1 / math.log2(6)) / (
        2 + 2 / math.log2(3) + 0.5 + 1 / math.log2(5)
    )
    assert ndcg_at_k(RANKING, ANSWERS, CORPUS, 5) == pytest.approx(expected)
    assert ndcg_at_k(RANKING, ANSWERS, CORPUS, 5) == pytest.approx(0.48128, abs=1e-5)
    # At k = 1 the top chunk has grade 0.
    assert ndcg_at_k(RANKING, ANSWERS, CORPUS, 1) == 0.0
    # At k = 2: (1/log2(3)) / (2 + 2/log2(3)).
    assert ndcg_at_k(RANKING, ANSWERS, CORPUS, 2) == pytest.approx(
        (1 / math.log2(3)) / (2 + 2 / math.log2(3))
    )


def test_the_ideal_ranking_scores_one() -> None:
    assert ndcg_at_k([C2, C5, C3, C4, C1], ANSWERS, CORPUS, 5) == pytest.approx(1.0)
    assert ndcg_at_k([C5, C2, C4, C3], ANSWERS, CORPUS, 10) == pytest.approx(1.0)


def test_a_partial_hit_scores_less_than_a_whole_one_at_the_same_rank() -> None:
    assert ndcg_at_k([C3], ANSWERS, CORPUS, 1) == pytest.approx(0.5)
    assert ndcg_at_k([C2], ANSWERS, CORPUS, 1) == pytest.approx(1.0)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKING, ANSWERS, 10) == 0.5
    assert reciprocal_rank(RANKING, ANSWERS, 1) == 0.0
    assert reciprocal_rank([C6, C1, C1, C5], ANSWERS, 10) == 0.25
    assert reciprocal_rank([C6, C1], ANSWERS, 10) == 0.0


def test_labels_that_fit_no_chunk_are_an_error() -> None:
    with pytest.raises(ValueError, match="no corpus chunk"):
        ndcg_at_k([C1], [Span("c.md", 0, 10)], CORPUS, 10)
    with pytest.raises(ValueError, match="at least one answer"):
        recall_at_k([C1], [], 5)
