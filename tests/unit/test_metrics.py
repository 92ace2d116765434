"""Ranking metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from training.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

RECOMMENDED = [1, 2, 3, 4, 5]
RELEVANT = [2, 5, 9]  # hits at ranks 2 and 5


def test_precision_counts_hits_in_the_first_k_over_k() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert precision_at_k(RECOMMENDED, RELEVANT, 2) == pytest.approx(1 / 2)


def test_a_short_list_is_not_rewarded_by_precision() -> None:
    assert precision_at_k([2], RELEVANT, 5) == pytest.approx(1 / 5)


def test_recall_divides_hits_by_the_relevant_count() -> None:
    assert recall_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RECOMMENDED, RELEVANT, 1) == 0.0


def test_ndcg_matches_the_hand_computed_value() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(dcg / ideal)


def test_a_perfect_ranking_has_ndcg_one() -> None:
    assert ndcg_at_k([9, 5, 2, 1], RELEVANT, 3) == pytest.approx(1.0)
    assert ndcg_at_k([9, 5, 2, 1], RELEVANT, 10) == pytest.approx(1.0)


def test_average_precision_averages_precision_at_each_hit() -> None:
    assert average_precision_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx((1 / 2 + 2 / 5) / 3)
    assert average_precision_at_k([5, 2, 7], RELEVANT, 2) == pytest.approx(1.0)


def test_every_metric_is_zero_without_relevant_items() -> None:
    for fn in (precision_at_k, recall_at_k, ndcg_at_k, average_precision_at_k):
        assert fn(RECOMMENDED, [], 5) == 0.0


def test_coverage_is_the_share_of_the_catalogue_shown_to_anyone() -> None:
    assert catalogue_coverage([[1, 2, 3], [3, 4, 9]], k=2, n_items=10) == pytest.approx(4 / 10)


def test_ranking_metrics_averages_over_users_for_every_k() -> None:
    out = ranking_metrics([RECOMMENDED, [9, 8]], [RELEVANT, [9]], k_values=(1, 5), n_items=10)
    assert out["precision@1"] == pytest.approx((0 + 1) / 2)
    assert out["recall@5"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["coverage@1"] == pytest.approx(2 / 10)
    assert set(out) == {
        f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "coverage") for k in (1, 5)
    }


def test_ranking_metrics_refuses_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="relevant"):
        ranking_metrics([RECOMMENDED], [], k_values=(5,), n_items=10)
