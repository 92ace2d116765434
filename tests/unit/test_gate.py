from __future__ import annotations

from training.gate import decide


def test_a_first_model_is_promoted_only_when_it_beats_popularity() -> None:
    assert decide({"ndcg@10": 0.2}, None, popularity={"ndcg@10": 0.1}).promote
    refused = decide({"ndcg@10": 0.1}, None, popularity={"ndcg@10": 0.1})
    assert not refused.promote
    assert "popularity" in refused.reason


def test_a_later_model_may_be_slightly_worse_within_the_tolerance() -> None:
    active = {"ndcg@10": 0.30}
    assert decide({"ndcg@10": 0.295}, active, popularity=None, tolerance=0.02).promote
    refused = decide({"ndcg@10": 0.29}, active, popularity=None, tolerance=0.02)
    assert not refused.promote
    assert "0.2900" in refused.reason


def test_a_candidate_without_the_gate_metric_is_refused() -> None:
    assert not decide({}, None, popularity={"ndcg@10": 0.1}).promote
