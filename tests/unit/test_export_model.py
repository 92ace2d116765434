"""export_model and the registry command line (list, promote, rollback, verify)."""

from __future__ import annotations

import hashlib
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.infrastructure.ml.model_loader import RegistryModelStore
from app.infrastructure.ml.registry import DataSource, ModelRegistry, ModelStatus, RegistryEntry
from tests.fitted import QUERIES, fitted
from training.export_model import export_model, main

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
DATABASE = DataSource("database", "3f2a9c1e-0000-4000-8000-000000000001", "postgresql://db:5432/feed")
DATA_FILE = DataSource("file", "9b" * 32, "data/fake_interactions.json")


def export(models_dir: Path, now: datetime = T0, **overrides: object) -> RegistryEntry:
    values: dict[str, object] = {
        "models_dir": models_dir,
        "config": {"n_neighbors": 50},
        "metrics": {"precision_at_10": 0.25, "recall_at_10": 0.1},
        "data_stats": {"users": 3, "posts": 4},
        "now": now,
    }
    values.update(overrides)
    return export_model(fitted(), **values)  # type: ignore[arg-type]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_writes_a_timestamped_artifact_and_registers_a_candidate(tmp_path: Path) -> None:
    entry = export(tmp_path)
    assert entry.version == "20261122T031500Z"
    assert entry.filename == "model_20261122T031500Z.npz"
    assert entry.status is ModelStatus.CANDIDATE
    artifact_bytes = (tmp_path / entry.filename).read_bytes()
    assert entry.sha256 == hashlib.sha256(artifact_bytes).hexdigest()
    assert ModelRegistry(tmp_path).get(entry.version) == entry
    loaded = RegistryModelStore(ModelRegistry(tmp_path)).load(entry.version)
    assert loaded.version == entry.version
    assert [loaded.recommend(q) for q in QUERIES] == [fitted().recommend(q) for q in QUERIES]


def test_two_exports_in_the_same_second_get_distinct_versions(tmp_path: Path) -> None:
    first, second = export(tmp_path), export(tmp_path)
    assert first.version != second.version
    assert (tmp_path / first.filename).exists()
    assert (tmp_path / second.filename).exists()


def test_exporting_as_active_also_promotes(tmp_path: Path) -> None:
    entry = export(tmp_path, status="active")
    assert entry.status is ModelStatus.ACTIVE
    assert ModelRegistry(tmp_path).active_version() == entry.version


def test_numpy_values_are_stored_as_plain_json(tmp_path: Path) -> None:
    entry = export(tmp_path, metrics={"ndcg_at_10": np.float32(0.5)}, data_stats={"users": np.int64(7)})
    assert entry.metrics == {"ndcg_at_10": 0.5}
    assert entry.data_stats == {"users": 7}
    assert type(entry.data_stats["users"]) is int


def test_an_object_other_than_a_fitted_recommender_is_not_exported(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="KnnRecommender"):
        export_model(object(), models_dir=tmp_path, config={}, metrics={}, data_stats={})  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_an_entry_the_registry_refuses_leaves_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        export(tmp_path, config={"weights": object()})
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".npz"] == []


def test_list_on_an_empty_registry_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list", "--models-dir", str(tmp_path))
    assert code == 0
    assert "no models registered" in out


def test_list_shows_versions_statuses_ndcg_data_sources_and_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = export(tmp_path, status="active", data_source=DATABASE, metrics={"ndcg@10": 0.21345, "map": 0.1})
    new = export(tmp_path, now=T0 + timedelta(days=1), data_source=DATA_FILE)
    code, out, _ = run(capsys, "--list", "--models-dir", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert "VERSION" in lines[0]
    assert "NDCG@10" in lines[0]
    assert "DATA SOURCE" in lines[0]
    assert new.version in lines[1]
    assert "candidate" in lines[1]
    assert "file:9b9b9b9b data/fake_interactions.json" in lines[1]
    assert lines[2].startswith("*")
    assert old.version in lines[2]
    assert "0.2135" in lines[2]
    assert "database:3f2a9c1e postgresql://db:5432/feed" in lines[2]
    assert "map=0.1" in lines[2]


def test_list_shows_models_registered_before_data_sources_were_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = export(tmp_path, status="active")
    code, out, _ = run(capsys, "--list", "--models-dir", str(tmp_path))
    assert code == 0
    (line,) = [line for line in out.splitlines() if entry.version in line]
    assert "unknown" in line
    assert "precision_at_10=0.25" in line


def test_export_records_the_data_the_model_was_trained_on(tmp_path: Path) -> None:
    entry = export(tmp_path, data_source=DATABASE, status="active")
    assert ModelRegistry(tmp_path).get(entry.version).data_source == DATABASE  # type: ignore[union-attr]
    assert ModelRegistry(tmp_path).active_for(DATABASE) == ModelRegistry(tmp_path).get(entry.version)


def test_promote_makes_a_version_active(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = export(tmp_path)
    code, out, _ = run(capsys, "--promote", entry.version, "--models-dir", str(tmp_path))
    assert code == 0
    assert f"promoted {entry.version}" in out
    assert ModelRegistry(tmp_path).active_version() == entry.version


def test_promote_refuses_an_unknown_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--promote", "20990101T000000Z", "--models-dir", str(tmp_path))
    assert code == 1
    assert "not in the registry" in err


def test_promote_refuses_a_tampered_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = export(tmp_path)
    (tmp_path / entry.filename).write_bytes(b"tampered")
    code, _, err = run(capsys, "--promote", entry.version, "--models-dir", str(tmp_path))
    assert code == 1
    assert "refusing to promote" in err
    assert ModelRegistry(tmp_path).active_version() is None


def test_rollback_reactivates_the_previous_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = export(tmp_path, status="active")
    second = export(tmp_path, now=T0 + timedelta(days=1), status="active")
    code, out, _ = run(capsys, "--rollback", "--models-dir", str(tmp_path))
    assert code == 0
    assert f"rolled back from {second.version} to {first.version}" in out
    assert ModelRegistry(tmp_path).active_version() == first.version


def test_rollback_with_nothing_to_go_back_to_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(tmp_path, status="active")
    code, _, err = run(capsys, "--rollback", "--models-dir", str(tmp_path))
    assert code == 1
    assert "no earlier active version" in err


def test_verify_passes_when_every_artifact_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(tmp_path)
    export(tmp_path)
    code, out, _ = run(capsys, "--verify", "--models-dir", str(tmp_path))
    assert code == 0
    assert "2 ok, 0 failed" in out


def test_verify_reports_tampered_and_missing_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered, missing, fine = export(tmp_path), export(tmp_path), export(tmp_path)
    (tmp_path / tampered.filename).write_bytes(b"tampered")
    (tmp_path / missing.filename).unlink()
    code, out, err = run(capsys, "--verify", "--models-dir", str(tmp_path))
    assert code == 1
    assert f"{tampered.version}: model artifact does not match" in err
    assert "registry expects" in err
    assert f"{missing.version}: model artifact is missing" in err
    assert fine.version not in err
    assert "1 ok, 2 failed" in out
    assert run(capsys, "--verify", fine.version, "--models-dir", str(tmp_path))[0] == 0


def test_a_corrupt_registry_is_reported_with_exit_code_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "registry.json").write_text("not json")
    code, _, err = run(capsys, "--list", "--models-dir", str(tmp_path))
    assert code == 1
    assert "registry.json" in err


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--models-dir", str(tmp_path)])
    assert raised.value.code == 2


def test_rollback_with_several_data_sources_needs_one_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = export(tmp_path, status="active", data_source=DATABASE)
    export(tmp_path, now=T0 + timedelta(days=1), status="active", data_source=DATABASE)
    other = export(tmp_path, now=T0 + timedelta(days=2), status="active", data_source=DATA_FILE)
    code, _, err = run(capsys, "--rollback", "--models-dir", str(tmp_path))
    assert code == 1
    assert "--source" in err
    code, out, _ = run(capsys, "--rollback", "--source", DATABASE.id[:8], "--models-dir", str(tmp_path))
    assert code == 0
    assert f"to {first.version}" in out
    registry = ModelRegistry(tmp_path)
    assert registry.active_for(DATABASE) == registry.get(first.version)
    assert registry.active_for(DATA_FILE) == registry.get(other.version)


def test_verify_and_promote_refuse_a_pickle_of_an_earlier_version_without_running_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"

    class WritesMarker:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (Path.write_text, (marker, "code ran"))

    data = pickle.dumps({"format_version": 1, "model": WritesMarker()}, protocol=5)
    (tmp_path / "model_old.pkl").write_bytes(data)
    registry = ModelRegistry(tmp_path)
    registry.add(RegistryEntry("old", "model_old.pkl", T0, hashlib.sha256(data).hexdigest()))
    code, out, err = run(capsys, "--verify", "--models-dir", str(tmp_path))
    assert (code, "0 ok, 1 failed") == (1, out.strip().rsplit(": ", 1)[1])
    assert "pickle" in err
    assert "`ml-service train`" in err
    code, _, err = run(capsys, "--promote", "old", "--models-dir", str(tmp_path))
    assert code == 1
    assert "refusing to promote" in err
    assert registry.active_version() is None
    assert not marker.exists()
