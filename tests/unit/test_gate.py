"""The promotion gate, and the training step that feeds it figures from one split."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.registry import RegistryEntry
from data.generate_fake_data import main as generate
from training.evaluate import split_interactions
from training.gate import decide
from training.sources import TrainingData, load_file
from training.train import Split, evaluate_config, judge, parse_arguments

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
# Ranking by recency alone ignores what users liked: far below the default blend on this data.
WEAK = KnnConfig(blend_cf=0.0, blend_content=0.0, blend_recency=1.0)
STRONG = KnnConfig()


def test_a_first_model_is_promoted_only_when_it_beats_popularity() -> None:
    assert decide({"ndcg@10": 0.2}, None, popularity={"ndcg@10": 0.1}).promote
    refused = decide({"ndcg@10": 0.1}, None, popularity={"ndcg@10": 0.1})
    assert not refused.promote
    assert "popularity" in refused.reason
    assert "0.1000 <= 0.1000" in refused.reason


def test_a_later_model_may_be_slightly_worse_within_the_tolerance() -> None:
    active = {"ndcg@10": 0.30}
    assert decide({"ndcg@10": 0.295}, active, popularity=None, tolerance=0.02).promote
    refused = decide({"ndcg@10": 0.29}, active, popularity=None, tolerance=0.02)
    assert not refused.promote
    assert "0.2900" in refused.reason
    assert "0.3000" in refused.reason


def test_a_candidate_without_the_gate_metric_is_refused() -> None:
    assert not decide({}, None, popularity={"ndcg@10": 0.1}).promote


# --- the candidate against the active configuration, on the same split ----------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    path = tmp_path_factory.mktemp("gate") / "interactions.json"
    sizes = ("--users", "80", "--posts", "200", "--interactions", "4000", "--seed", "5")
    assert generate([*sizes, "--output", str(path)]) == 0
    return load_file(path)


@pytest.fixture(scope="module")
def split(data: TrainingData) -> Split:
    return split_interactions(data.interactions, "temporal", None, 0, 5)


def evaluated(data: TrainingData, split: Split, config: KnnConfig) -> dict[str, Any]:
    args = parse_arguments(["--max-eval-users", "500"])
    return evaluate_config(data, split, config, args, tune=False)


def active_entry(config: KnnConfig, stored_ndcg: float, data: TrainingData) -> RegistryEntry:
    """The active model of this data, whose stored metric came from some other data or split."""
    return RegistryEntry(
        version="20261101T000000Z",
        filename="model_20261101T000000Z.pkl",
        created_at=T0,
        sha256="ab" * 32,
        metrics={"ndcg@10": stored_ndcg},
        config={**config.as_dict(), "a_setting_from_later_code": 1},
        data_source=data.identity,
    )


def test_a_candidate_worse_than_the_active_configuration_is_refused_whatever_its_stored_metric(
    data: TrainingData, split: Split
) -> None:
    candidate = evaluated(data, split, WEAK)
    reference = evaluated(data, split, STRONG)["model"]["ndcg@10"]
    assert candidate["model"]["ndcg@10"] < reference * 0.98  # the premise
    # Stored 0.01: compared with it, as before, the weak candidate would have been promoted.
    decision = judge(data, split, candidate, active_entry(STRONG, 0.01, data), parse_arguments([]))
    assert not decision.promote
    assert f"{candidate['model']['ndcg@10']:.4f}" in decision.reason
    assert f"{reference:.4f}" in decision.reason
    assert "same split" in decision.reason


def test_a_candidate_better_than_the_active_configuration_is_promoted_whatever_its_stored_metric(
    data: TrainingData, split: Split
) -> None:
    candidate = evaluated(data, split, STRONG)
    reference = evaluated(data, split, WEAK)["model"]["ndcg@10"]
    # Stored 0.99: compared with it, as before, the candidate would have been refused.
    decision = judge(data, split, candidate, active_entry(WEAK, 0.99, data), parse_arguments([]))
    assert decision.promote
    assert f"{candidate['model']['ndcg@10']:.4f} vs {reference:.4f}" in decision.reason


def test_the_first_model_of_a_data_source_must_beat_popularity(data: TrainingData, split: Split) -> None:
    candidate = evaluated(data, split, STRONG)
    decision = judge(data, split, candidate, None, parse_arguments([]))
    assert decision.promote
    assert "beats popularity" in decision.reason
    assert f"{candidate['popularity']['ndcg@10']:.4f}" in decision.reason


def test_an_active_config_that_cannot_be_rebuilt_stops_the_gate(data: TrainingData, split: Split) -> None:
    candidate = evaluated(data, split, STRONG)
    broken = replace(active_entry(STRONG, 0.1, data), config={"n_neighbors": 0})
    decision = judge(data, split, candidate, broken, parse_arguments([]))
    assert not decision.promote
    assert "cannot be rebuilt" in decision.reason


def test_the_data_of_a_file_is_identified_by_its_bytes(data: TrainingData, tmp_path: Path) -> None:
    assert data.identity.kind == "file"
    copy = tmp_path / "copy.json"
    copy.write_bytes(Path(data.identity.display).read_bytes())
    assert load_file(copy).identity.key == data.identity.key
