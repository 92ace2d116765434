"""The model registry: schema round trip, promote/rollback/history per data source, atomic and
concurrent writes, registries written under schema 1."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filelock
import pytest

from app.infrastructure.ml.registry import (
    DataSource,
    ModelRegistry,
    ModelStatus,
    RegistryCorrupt,
    RegistryEntry,
    RegistryError,
)
from app.shared.exceptions import ModelUnavailable

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


def make_entry(version: str = "20261122T031500Z", **overrides: object) -> RegistryEntry:
    values: dict[str, object] = {
        "version": version,
        "filename": f"model_{version}.npz",
        "created_at": T0,
        "sha256": "ab" * 32,
        "metrics": {"precision_at_10": 0.12},
        "config": {"n_neighbors": 50},
        "data_stats": {"users": 10},
    }
    values.update(overrides)
    return RegistryEntry(**values)  # type: ignore[arg-type]


def registry_with(models_dir: Path, *versions: str) -> ModelRegistry:
    registry = ModelRegistry(models_dir, now=lambda: T0 + timedelta(hours=1))
    for version in versions:
        registry.add(make_entry(version))
    return registry


def leftover_temp_files(models_dir: Path) -> list[str]:
    return [p.name for p in models_dir.iterdir() if p.name.startswith(".tmp")]


def test_a_missing_registry_file_reads_as_an_empty_registry(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.entries() == []
    assert registry.active() is None
    assert registry.active_version() is None
    assert not (tmp_path / "models").exists()


def test_an_added_entry_round_trips_through_the_file(tmp_path: Path) -> None:
    entry = make_entry(note="first run")
    registry_with(tmp_path).add(entry)
    assert ModelRegistry(tmp_path).get(entry.version) == entry
    document = json.loads((tmp_path / "registry.json").read_text())
    assert document["models"][0]["status"] == "candidate"
    assert document["history"][0]["action"] == "added"


def test_adding_a_duplicate_version_is_refused(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1")
    with pytest.raises(RegistryError, match="already registered"):
        registry.add(make_entry("v1"))
    assert len(registry.entries()) == 1


def test_an_entry_cannot_be_added_as_active_or_point_outside_models_dir(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    with pytest.raises(RegistryError, match="promote"):
        registry.add(make_entry(status=ModelStatus.ACTIVE))
    with pytest.raises(RegistryError, match="bare file name"):
        registry.add(make_entry(filename="../elsewhere.pkl"))


def test_promote_activates_a_version_and_archives_the_previous_one(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1", "v2")
    registry.promote("v1")
    promoted = registry.promote("v2")
    assert promoted.status is ModelStatus.ACTIVE
    assert promoted.promoted_at == T0 + timedelta(hours=1)
    assert registry.active_version() == "v2"
    assert registry.get("v1").status is ModelStatus.ARCHIVED  # type: ignore[union-attr]
    last = registry.state().history[-1]
    assert (last.version, last.action, last.previous) == ("v2", "promoted", "v1")


def test_promoting_the_active_version_again_changes_nothing(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1")
    registry.promote("v1")
    before = (tmp_path / "registry.json").read_bytes()
    registry.promote("v1")
    assert (tmp_path / "registry.json").read_bytes() == before


def test_promoting_an_unknown_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not in the registry"):
        registry_with(tmp_path, "v1").promote("nope")


def test_rollback_walks_back_through_previously_active_versions(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1", "v2", "v3")
    for version in ("v1", "v2", "v3"):
        registry.promote(version)
    assert registry.rollback(note="v3 regressed").version == "v2"
    assert registry.get("v3").status is ModelStatus.ARCHIVED  # type: ignore[union-attr]
    assert registry.rollback().version == "v1"
    with pytest.raises(RegistryError, match="no earlier active version"):
        registry.rollback()
    assert registry.active_version() == "v1"


def test_rollback_skips_versions_rejected_since_they_were_active(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1", "v2", "v3")
    for version in ("v1", "v2", "v3"):
        registry.promote(version)
    registry.mark("v2", ModelStatus.REJECTED, note="bad data")
    assert registry.rollback().version == "v1"


def test_rollback_without_an_active_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry_with(tmp_path, "v1").rollback()


def test_mark_sets_status_and_note_but_never_on_the_active_model(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1", "v2")
    registry.promote("v1")
    rejected = registry.mark("v2", ModelStatus.REJECTED, note="below baseline")
    assert (rejected.status, rejected.note) == (ModelStatus.REJECTED, "below baseline")
    assert registry.state().history[-1].action == "marked_rejected"
    with pytest.raises(RegistryError, match="is active"):
        registry.mark("v1", ModelStatus.ARCHIVED)
    with pytest.raises(RegistryError, match="promote"):
        registry.mark("v2", ModelStatus.ACTIVE)


def test_a_registry_that_is_not_json_is_reported_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text('{"models": [')
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RegistryCorrupt, match="never reset") as raised:
        registry.add(make_entry())
    assert isinstance(raised.value, ModelUnavailable)
    assert str(tmp_path / "registry.json") in str(raised.value)
    assert (tmp_path / "registry.json").read_text() == '{"models": ['


def test_a_registry_with_the_wrong_shape_is_reported(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text('{"models": [{"version": "v1"}]}')
    with pytest.raises(RegistryCorrupt, match="KeyError"):
        ModelRegistry(tmp_path).entries()


def test_a_change_by_another_writer_is_seen_by_an_existing_reader(tmp_path: Path) -> None:
    reader = registry_with(tmp_path, "v1")
    assert reader.active_version() is None
    ModelRegistry(tmp_path).promote("v1")
    assert reader.active_version() == "v1"


def test_writes_leave_no_temporary_files_behind(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, "v1", "v2")
    registry.promote("v1")
    assert leftover_temp_files(tmp_path) == []
    json.loads((tmp_path / "registry.json").read_text())


def test_a_failed_write_keeps_the_previous_registry_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = registry_with(tmp_path, "v1")

    def fail_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        registry.add(make_entry("v2"))
    monkeypatch.undo()
    assert [e.version for e in ModelRegistry(tmp_path).entries()] == ["v1"]
    assert leftover_temp_files(tmp_path) == []


def _add_then_die_before_rename(models_dir: Path) -> None:
    os.replace = lambda *args: os._exit(3)  # the process dies mid-write
    ModelRegistry(models_dir).add(make_entry("v2"))


def test_a_writer_killed_mid_write_leaves_a_readable_registry_and_the_lock_free(tmp_path: Path) -> None:
    registry_with(tmp_path, "v1")
    child = multiprocessing.get_context("fork").Process(target=_add_then_die_before_rename, args=(tmp_path,))
    child.start()
    child.join(30)
    assert child.exitcode == 3
    registry = ModelRegistry(tmp_path, lock_timeout=5)
    assert [e.version for e in registry.entries()] == ["v1"]
    registry.add(make_entry("v3"))
    assert [e.version for e in registry.entries()] == ["v1", "v3"]


def _add_many(models_dir: Path, worker: int, count: int) -> None:
    registry = ModelRegistry(models_dir, lock_timeout=60)
    for n in range(count):
        registry.add(make_entry(f"w{worker}-{n}"))


def test_writers_in_several_processes_never_lose_an_entry(tmp_path: Path) -> None:
    workers, per_worker = 4, 10
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_add_many, args=(tmp_path, w, per_worker)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0] * workers
    document = json.loads((tmp_path / "registry.json").read_text())
    expected = {f"w{w}-{n}" for w in range(workers) for n in range(per_worker)}
    assert {model["version"] for model in document["models"]} == expected
    assert len(document["history"]) == workers * per_worker
    assert leftover_temp_files(tmp_path) == []


def test_a_writer_that_cannot_get_the_lock_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, lock_timeout=0.05)
    with filelock.FileLock(registry.lock_path), pytest.raises(RegistryError, match="retry"):
        registry.add(make_entry())


# --- data sources ----------------------------------------------------------------------

DATABASE_A = DataSource("database", "aaaaaaaa-0000-4000-8000-000000000001", "postgresql://db-a:5432/feed")
DATABASE_B = DataSource("database", "bbbbbbbb-0000-4000-8000-000000000002", "postgresql://db-b:5432/feed")


def registry_of(models_dir: Path, **versions: DataSource | None) -> ModelRegistry:
    registry = ModelRegistry(models_dir, now=lambda: T0 + timedelta(hours=1))
    for version, source in versions.items():
        registry.add(make_entry(version, data_source=source))
    return registry


def status_of(registry: ModelRegistry, version: str) -> ModelStatus:
    entry = registry.get(version)
    assert entry is not None
    return entry.status


def test_a_data_source_round_trips_through_the_file(tmp_path: Path) -> None:
    registry_of(tmp_path, a1=DATABASE_A)
    assert ModelRegistry(tmp_path).get("a1") == make_entry("a1", data_source=DATABASE_A)
    document = json.loads((tmp_path / "registry.json").read_text())
    assert document["schema_version"] == 2
    assert document["models"][0]["data_source"] == {
        "kind": "database",
        "id": DATABASE_A.id,
        "display": "postgresql://db-a:5432/feed",
    }


def test_promoting_on_one_data_source_leaves_another_sources_active_model_active(tmp_path: Path) -> None:
    registry = registry_of(tmp_path, a1=DATABASE_A, b1=DATABASE_B, a2=DATABASE_A)
    registry.promote("a1")
    registry.promote("b1")
    assert status_of(registry, "a1") is ModelStatus.ACTIVE
    registry.promote("a2")
    assert status_of(registry, "a1") is ModelStatus.ARCHIVED
    assert status_of(registry, "b1") is ModelStatus.ACTIVE
    assert registry.active_for(DATABASE_A).version == "a2"  # type: ignore[union-attr]
    assert registry.active_for(DATABASE_B).version == "b1"  # type: ignore[union-attr]
    assert registry.state().history[-1].previous == "a1"
    document = json.loads((tmp_path / "registry.json").read_text())
    assert sorted(document["active"]) == ["a2", "b1"]


def test_the_display_is_not_part_of_a_data_sources_identity(tmp_path: Path) -> None:
    renamed = DataSource("database", DATABASE_A.id, "postgresql://new-host:5432/feed")
    registry = registry_of(tmp_path, a1=DATABASE_A)
    registry.promote("a1")
    assert registry.active_for(renamed) == registry.get("a1")


def test_rollback_changes_only_the_named_data_source(tmp_path: Path) -> None:
    registry = registry_of(tmp_path, a1=DATABASE_A, b1=DATABASE_B, a2=DATABASE_A, b2=DATABASE_B)
    for version in ("a1", "b1", "a2", "b2"):
        registry.promote(version)
    assert registry.rollback(source=DATABASE_A.key).version == "a1"
    assert status_of(registry, "a2") is ModelStatus.ARCHIVED
    assert registry.active_for(DATABASE_B).version == "b2"  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="no earlier active version"):
        registry.rollback(source=DATABASE_A.key)
    assert registry.rollback(source=DATABASE_B.key).version == "b1"


def test_active_is_the_most_recently_promoted_model_of_any_source(tmp_path: Path) -> None:
    hours = iter(range(1, 10))
    registry = ModelRegistry(tmp_path, now=lambda: T0 + timedelta(hours=next(hours)))
    for version, source in (("a1", DATABASE_A), ("b1", DATABASE_B)):
        registry.add(make_entry(version, data_source=source))
    registry.promote("b1")
    registry.promote("a1")
    assert registry.active_version() == "a1"


def _schema_one_document() -> dict[str, object]:
    old = make_entry("old").to_json()
    del old["data_source"]
    return {
        "schema_version": 1,
        "active": "old",
        "models": [{**old, "status": "active", "promoted_at": T0.isoformat()}],
        "history": [{"version": "old", "action": "promoted", "at": T0.isoformat(), "previous": None}],
    }


def test_a_schema_one_registry_is_read_with_its_models_belonging_to_no_data_source(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text(json.dumps(_schema_one_document()))
    registry = ModelRegistry(tmp_path)
    old = registry.get("old")
    assert old is not None
    assert (old.status, old.data_source) == (ModelStatus.ACTIVE, None)
    assert registry.active_for(DATABASE_A) is None
    assert registry.active_for(None) == old


def test_writing_a_schema_one_registry_upgrades_it_and_keeps_its_models(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text(json.dumps(_schema_one_document()))
    registry = ModelRegistry(tmp_path)
    registry.add(make_entry("a1", data_source=DATABASE_A))
    registry.promote("a1")
    document = json.loads((tmp_path / "registry.json").read_text())
    assert document["schema_version"] == 2
    assert sorted(document["active"]) == ["a1", "old"]
    assert status_of(registry, "old") is ModelStatus.ACTIVE
    assert registry.get("old").data_source is None  # type: ignore[union-attr]


def test_a_registry_of_an_unknown_schema_version_is_reported(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text('{"schema_version": 3, "models": []}')
    with pytest.raises(RegistryCorrupt, match="schema_version 3"):
        ModelRegistry(tmp_path).entries()


def test_a_data_source_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        DataSource("bucket", "x")


# --- artifact files stay in the models folder ------------------------------------------------


def registry_naming(models_dir: Path, filename: str) -> tuple[ModelRegistry, RegistryEntry]:
    """A registry whose one entry names `filename`, written as a tampered registry.json would be
    (add() refuses such names)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    entry = make_entry("v1", filename=filename)
    document = {"schema_version": 2, "models": [entry.to_json()], "history": []}
    (models_dir / "registry.json").write_text(json.dumps(document))
    registry = ModelRegistry(models_dir)
    loaded = registry.get("v1")
    assert loaded is not None
    return registry, loaded


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("../outside/x.npz", "a path"),
        ("sub/x.npz", "a path"),
        ("..", "a path"),
        ("/etc/passwd", "an absolute path"),
        (".tmp-model_v1.npz", "hidden or temporary"),
        ("", "empty"),
    ],
)
def test_an_artifact_filename_that_leaves_the_models_folder_is_refused(
    tmp_path: Path, filename: str, reason: str
) -> None:
    registry, entry = registry_naming(tmp_path / "models", filename)
    with pytest.raises(ModelUnavailable, match="leads outside the models folder") as raised:
        registry.artifact_path(entry)
    assert reason in str(raised.value)


def test_a_symlink_out_of_the_models_folder_is_refused_and_one_within_it_is_followed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.npz"
    outside.write_bytes(b"not yours")
    models = tmp_path / "models"
    registry, entry = registry_naming(models, "model_v1.npz")
    (models / "model_v1.npz").symlink_to(outside)
    with pytest.raises(ModelUnavailable, match="symlink out of the folder"):
        registry.artifact_path(entry)
    (models / "model_v1.npz").unlink()
    (models / "real.npz").write_bytes(b"ours")
    (models / "model_v1.npz").symlink_to(models / "real.npz")
    assert registry.artifact_path(entry).read_bytes() == b"ours"


def test_a_new_entry_must_name_a_plain_file(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    for filename in ("/abs/model.npz", "..", ".hidden.npz"):
        with pytest.raises(RegistryError, match="bare file name"):
            registry.add(make_entry(filename=filename))
