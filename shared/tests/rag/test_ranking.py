"""Reciprocal rank fusion and MMR on hand-made rankings and vectors."""

from __future__ import annotations

import uuid

import pytest

from genai_shared.rag.retrieval import maximal_marginal_relevance, reciprocal_rank_fusion

A, B, C, D, P, Q = (uuid.UUID(int=i) for i in range(1, 7))


class TestReciprocalRankFusion:
    def test_scores_are_sums_of_one_over_k_plus_rank(self) -> None:
        fused = reciprocal_rank_fusion([[A, B, C], [C, A, D]], k=60)

        assert [item for item, _ in fused] == [A, C, B, D]
        scores = dict(fused)
        assert scores[A] == pytest.approx(1 / 61 + 1 / 62)
        assert scores[C] == pytest.approx(1 / 63 + 1 / 61)
        assert scores[B] == pytest.approx(1 / 62)
        assert scores[D] == pytest.approx(1 / 63)

    def test_k_decides_between_one_top_rank_and_agreement(self) -> None:
        """P is first in one ranking only; Q is fourth in both. 2/(k+4) > 1/(k+1) iff k > 2."""
        rankings = [[P, A, B, Q], [C, D, A, Q]]
        small_k = [item for item, _ in reciprocal_rank_fusion(rankings, k=1)]
        large_k = [item for item, _ in reciprocal_rank_fusion(rankings, k=60)]
        assert small_k.index(P) < small_k.index(Q)
        assert large_k.index(Q) < large_k.index(P)

    def test_an_id_repeated_in_one_ranking_counts_once(self) -> None:
        fused = dict(reciprocal_rank_fusion([[A, A, B]], k=60))
        assert fused == {A: pytest.approx(1 / 61), B: pytest.approx(1 / 62)}

    def test_ties_keep_first_seen_order(self) -> None:
        fused = reciprocal_rank_fusion([[A, B], [B, A]], k=60)
        assert [item for item, _ in fused] == [A, B]

    def test_empty_and_single_rankings(self) -> None:
        assert reciprocal_rank_fusion([], k=60) == []
        assert [i for i, _ in reciprocal_rank_fusion([[C, A, B]], k=60)] == [C, A, B]

    def test_k_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="k"):
            reciprocal_rank_fusion([[A]], k=0)


class TestMaximalMarginalRelevance:
    QUERY = [1.0, 0.0, 0.0]
    # A and B are near-duplicates, both close to the query; C is a little less relevant
    # and says something else; D is off topic.
    VECTORS = {
        A: [0.95, 0.31, 0.0],
        B: [0.94, 0.34, 0.0],
        C: [0.80, 0.0, 0.60],
        D: [0.0, 0.0, 1.0],
    }

    def test_lambda_one_is_relevance_order(self) -> None:
        order = maximal_marginal_relevance(
            self.QUERY, [D, C, B, A], self.VECTORS, limit=4, lambda_=1.0
        )
        assert order == [A, B, C, D]

    def test_a_near_duplicate_gives_way_to_something_new(self) -> None:
        order = maximal_marginal_relevance(
            self.QUERY, [A, B, C, D], self.VECTORS, limit=2, lambda_=0.5
        )
        assert order == [A, C]

    def test_lambda_zero_picks_the_most_different_after_the_first(self) -> None:
        order = maximal_marginal_relevance(
            self.QUERY, [A, B, C, D], self.VECTORS, limit=2, lambda_=0.0
        )
        # The first pick has no penalty yet (all zero): the first candidate; then the one
        # least like it.
        assert order == [A, D]

    def test_limit_and_candidates_without_vectors(self) -> None:
        unknown = uuid.UUID(int=99)
        order = maximal_marginal_relevance(
            self.QUERY, [unknown, A, B, C], self.VECTORS, limit=10, lambda_=0.7
        )
        assert unknown not in order
        assert sorted(order) == sorted([A, B, C])
        assert maximal_marginal_relevance(self.QUERY, [A, B], self.VECTORS, limit=0) == []
        assert maximal_marginal_relevance(self.QUERY, [], self.VECTORS, limit=3) == []

    def test_vectors_need_not_be_normalised(self) -> None:
        scaled = {key: [10 * x for x in value] for key, value in self.VECTORS.items()}
        order = maximal_marginal_relevance(self.QUERY, [A, B, C, D], scaled, limit=2, lambda_=0.5)
        assert order == [A, C]

    def test_lambda_out_of_range(self) -> None:
        with pytest.raises(ValueError, match="lambda"):
            maximal_marginal_relevance(self.QUERY, [A], self.VECTORS, limit=1, lambda_=1.5)
