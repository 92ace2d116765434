"""generate → train → evaluate → validate on generated data, as a user runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.infrastructure.ml.registry import ModelRegistry, ModelStatus
from data.generate_fake_data import main as generate
from training.evaluate import main as evaluate
from training.train import main as train
from training.validate_model import main as validate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "interactions.json"
    assert (
        generate(
            [
                "--users",
                "120",
                "--posts",
                "300",
                "--interactions",
                "6000",
                "--seed",
                "7",
                "--output",
                str(path),
            ]
        )
        == 0
    )
    return path


def test_training_from_a_file_registers_promotes_and_validates(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    assert train(["--input", str(dataset), "--models-dir", str(models), "--no-mlflow"]) == 0
    registry = ModelRegistry(models)
    active = registry.active()
    assert active is not None
    assert active.metrics["ndcg@10"] > active.metrics["popularity.ndcg@10"]
    assert registry.artifact_path(active).exists()
    assert "PROMOTED" in capsys.readouterr().out
    assert validate(["--input", str(dataset), "--models-dir", str(models)]) == 0


def test_a_candidate_worse_than_the_active_configuration_on_the_same_split_is_rejected(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    assert train(["--input", str(dataset), "--models-dir", str(models), "--no-mlflow"]) == 0
    registry = ModelRegistry(models)
    first = registry.active_version()
    # A stored metric that would let anything through: the gate must not read it.
    raw = json.loads(registry.path.read_text())
    for model in raw["models"]:
        model["metrics"]["ndcg@10"] = 0.0
    registry.path.write_text(json.dumps(raw))
    # A candidate that ranks by recency alone, far worse than the active configuration.
    for name, weight in (("CF", "0"), ("CONTENT", "0"), ("RECENCY", "1")):
        monkeypatch.setenv(f"ML_BLEND__{name}", weight)
    capsys.readouterr()
    args = ["--input", str(dataset), "--models-dir", str(models), "--no-mlflow", "--no-tune"]
    assert train(args) == 0
    assert registry.active_version() == first
    statuses = {e.version: e.status for e in registry.entries()}
    assert sorted(statuses.values()) == [ModelStatus.ACTIVE, ModelStatus.REJECTED]
    why = capsys.readouterr().out
    assert f"the active model {first}'s configuration on the same split" in why


def test_a_model_of_other_data_neither_gates_nor_replaces_the_active_model_of_this_data(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    other = tmp_path / "other.json"
    sizes = ["--users", "100", "--posts", "250", "--interactions", "5000", "--seed", "8"]
    assert generate([*sizes, "--output", str(other)]) == 0
    assert train(["--input", str(dataset), "--models-dir", str(models), "--no-mlflow", "--no-tune"]) == 0
    assert train(["--input", str(other), "--models-dir", str(models), "--no-mlflow", "--no-tune"]) == 0
    assert "first model for this data beats popularity" in capsys.readouterr().out
    registry = ModelRegistry(models)
    first, second = sorted(registry.entries(), key=lambda e: e.created_at)
    assert (first.status, second.status) == (ModelStatus.ACTIVE, ModelStatus.ACTIVE)
    assert first.data_source is not None
    assert second.data_source is not None
    assert first.data_source.kind == second.data_source.kind == "file"
    assert first.data_source.id == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert first.data_source.key != second.data_source.key


def test_validation_fails_without_an_active_model(dataset: Path, tmp_path: Path) -> None:
    assert validate(["--input", str(dataset), "--models-dir", str(tmp_path / "empty")]) == 1


def test_evaluate_prints_model_and_baselines_as_json(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(["--input", str(dataset), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"model", "popularity", "random"} <= set(result)
    assert result["model"]["ndcg@10"] > result["popularity"]["ndcg@10"]
