"""The verified loader and the hot-reload ModelHolder: what it serves, and what it reports."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.application.dto import HealthState
from app.application.use_cases.health import CheckHealth
from app.domain.ports import ModelStore
from app.infrastructure.ml.artifact import ModelArtifact, sha256_hex, write_artifact
from app.infrastructure.ml.artifact_check import ArtifactCheck
from app.infrastructure.ml.model_loader import ModelHolder, RegistryModelStore, VersionedRecommender
from app.infrastructure.ml.registry import DataSource, ModelRegistry, RegistryEntry
from app.shared.exceptions import ChecksumMismatch, ModelUnavailable, StorageUnavailable
from tests.fakes import FixedClock
from tests.fitted import QUERIES, TRAINED, fitted

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
DATABASE_A = DataSource("database", "aaaaaaaa-0000-4000-8000-000000000001", "postgresql://db-a:5432/feed")
DATABASE_B = DataSource("database", "bbbbbbbb-0000-4000-8000-000000000002", "postgresql://db-b:5432/feed")


class WritesMarker:
    """A pickle that runs code when loaded: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "code ran"))


def make_artifact(version: str = "v1") -> ModelArtifact:
    return ModelArtifact(
        version=version,
        created_at=T0,
        model=fitted(),
        config={"n_neighbors": 5},
        metrics={"precision_at_10": 0.2},
        data_stats={"users": 3},
    )


def register(
    registry: ModelRegistry,
    version: str,
    filename: str,
    sha256: str,
    *,
    promote: bool = True,
    source: DataSource | None = DATABASE_A,
    created_at: datetime = T0,
) -> None:
    entry = RegistryEntry(
        version=version, filename=filename, created_at=created_at, sha256=sha256, data_source=source
    )
    registry.add(entry)
    if promote:
        registry.promote(version)


def publish(
    registry: ModelRegistry,
    version: str,
    *,
    promote: bool = True,
    source: DataSource | None = DATABASE_A,
    created_at: datetime = T0,
) -> Path:
    """Write an artifact, register it as trained on `source` and (by default) promote it;
    returns the artifact path."""
    path = registry.models_dir / f"model_{version}.npz"
    sha256 = write_artifact(make_artifact(version), path)
    register(registry, version, path.name, sha256, promote=promote, source=source, created_at=created_at)
    return path


def plant_pickle(registry: ModelRegistry, version: str, filename: str, marker: Path) -> None:
    """What the probe did: a code-running pickle, registered with its true sha256 and promoted."""
    data = pickle.dumps({"format_version": 1, "version": version, "model": WritesMarker(marker)}, protocol=5)
    (registry.models_dir / filename).write_bytes(data)
    register(registry, version, filename, sha256_hex(data))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- RegistryModelStore ----------------------------------------------------------------


def test_the_store_loads_a_versioned_recommender_that_delegates_to_the_model(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    publish(registry, "v1")
    store: ModelStore = RegistryModelStore(registry)
    assert store.active_version() == "v1"
    model = store.load("v1")
    assert isinstance(model, VersionedRecommender)
    assert model.version == "v1"
    assert model.trained_at == TRAINED
    assert model.config == {"n_neighbors": 5}
    assert [model.recommend(query) for query in QUERIES] == [fitted().recommend(query) for query in QUERIES]


def test_the_store_refuses_an_unregistered_version(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not in the registry"):
        RegistryModelStore(ModelRegistry(tmp_path)).load("v9")


def test_the_store_refuses_a_tampered_artifact(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    flip_a_byte(publish(registry, "v1"))
    with pytest.raises(ChecksumMismatch):
        RegistryModelStore(registry).load("v1")


@pytest.mark.parametrize("filename", ["model_v1.pkl", "model_v1.npz"])
def test_the_store_refuses_a_code_running_pickle_with_the_registered_checksum_and_runs_nothing(
    filename: str, tmp_path: Path
) -> None:
    registry, marker = ModelRegistry(tmp_path), tmp_path / "code-ran"
    plant_pickle(registry, "v1", filename, marker)
    with pytest.raises(ModelUnavailable, match="`ml-service train`"):
        RegistryModelStore(registry).load("v1")
    assert not marker.exists()


@pytest.mark.parametrize("filename", ["../outside/model_v1.npz", "sub/../../outside/model_v1.npz"])
def test_the_store_never_reads_an_artifact_outside_the_models_folder(filename: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), outside)  # a valid artifact, with the registered hash
    registry = ModelRegistry(tmp_path / "models")
    registry.path.parent.mkdir()
    entry = {"version": "v1", "filename": filename, "created_at": T0.isoformat(), "sha256": sha256}
    registry.path.write_text(json.dumps({"schema_version": 2, "models": [{**entry, "status": "active"}]}))
    with pytest.raises(ModelUnavailable, match="outside the models folder"):
        RegistryModelStore(registry).load("v1")


# --- ModelHolder -----------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_holder(tmp_path: Path) -> tuple[ModelRegistry, ModelHolder, FakeMonotonic]:
    """A service's model slot on database A."""
    registry = ModelRegistry(tmp_path)
    clock = FakeMonotonic()
    store = RegistryModelStore(registry, lambda: DATABASE_A)
    holder = ModelHolder(store, retry_failed_after_seconds=60, monotonic=clock)
    return registry, holder, clock


def served_version(holder: ModelHolder) -> str | None:
    model = holder.current()
    return model.version if model is not None else None


def test_with_no_active_model_nothing_is_served_and_the_reason_is_given(tmp_path: Path) -> None:
    _, holder, _ = make_holder(tmp_path)
    assert holder.refresh() is False
    assert holder.current() is None
    assert "no model is active" in (holder.last_error or "")
    with pytest.raises(ModelUnavailable, match="no model is active"):
        holder.require()


def test_refresh_picks_up_a_promotion_and_then_nothing_until_the_next(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "v1")
    assert holder.refresh() is True
    assert served_version(holder) == "v1"
    assert holder.require().version == "v1"
    assert holder.last_error is None
    assert holder.refresh() is False
    publish(registry, "v2")
    assert holder.refresh() is True
    assert served_version(holder) == "v2"


def test_a_tampered_new_model_never_replaces_the_working_one(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "v1")
    holder.refresh()
    flip_a_byte(publish(registry, "v2"))
    assert holder.refresh() is False
    assert served_version(holder) == "v1"
    assert "v2" in (holder.last_error or "")
    assert "sha256" in (holder.last_error or "")


def test_a_broken_version_is_retried_only_after_the_retry_interval(tmp_path: Path) -> None:
    registry, holder, clock = make_holder(tmp_path)
    path = publish(registry, "v1")
    good = path.read_bytes()
    flip_a_byte(path)
    assert holder.refresh() is False
    path.write_bytes(good)  # restored from backup
    clock.now = 30
    assert holder.refresh() is False
    assert holder.current() is None
    clock.now = 61
    assert holder.refresh() is True
    assert served_version(holder) == "v1"


def test_a_corrupt_registry_keeps_the_served_model(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "v1")
    holder.refresh()
    registry.path.write_text("{ not json")
    assert holder.refresh() is False
    assert served_version(holder) == "v1"
    assert "registry" in (holder.last_error or "")


def test_a_repaired_registry_clears_the_error_at_the_next_check(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "v1")
    holder.refresh()
    good = registry.path.read_text()
    registry.path.write_text("{ not json")
    holder.refresh()
    registry.path.write_text(good)
    assert holder.refresh() is False
    assert served_version(holder) == "v1"
    assert holder.last_error is None


def test_a_repaired_registry_clears_its_error_while_a_refused_version_stays_active(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "v1")
    holder.refresh()
    flip_a_byte(publish(registry, "v2"))
    holder.refresh()
    good = registry.path.read_text()
    registry.path.write_text("{ not json")
    holder.refresh()
    assert "cannot read the model registry" in (holder.last_error or "")
    registry.path.write_text(good)
    holder.refresh()
    # What is still wrong (v2 refused) is reported; the registry, readable again, is not.
    assert "cannot read the model registry" not in (holder.last_error or "")
    assert "model v2 was not loaded" in (holder.last_error or "")
    assert served_version(holder) == "v1"


@pytest.mark.parametrize("filename", ["model_v2.pkl", "model_v2.npz"])
def test_a_promoted_code_running_pickle_runs_nothing_and_the_served_model_stays(
    filename: str, tmp_path: Path
) -> None:
    registry, holder, _ = make_holder(tmp_path)
    marker = tmp_path / "code-ran"
    publish(registry, "v1")
    holder.refresh()
    plant_pickle(registry, "v2", filename, marker)
    assert holder.refresh() is False
    assert not marker.exists()
    assert served_version(holder) == "v1"
    assert "model v2 was not loaded" in (holder.last_error or "")
    assert "`ml-service train`" in (holder.last_error or "")


def test_a_service_whose_active_model_is_an_old_pickle_serves_none_and_says_to_retrain(
    tmp_path: Path,
) -> None:
    registry, holder, _ = make_holder(tmp_path)
    marker = tmp_path / "code-ran"
    plant_pickle(registry, "old", "model_old.pkl", marker)
    assert holder.refresh() is False
    assert holder.current() is None
    assert not marker.exists()
    assert "retrain" in (holder.last_error or "")


def test_a_changed_served_artifact_is_reported_at_the_next_check_while_the_model_keeps_serving(
    tmp_path: Path,
) -> None:
    registry, holder, _ = make_holder(tmp_path)
    path = publish(registry, "v1")
    holder.refresh()
    good = path.read_bytes()
    flip_a_byte(path)
    assert holder.refresh() is False
    assert served_version(holder) == "v1"
    assert "the served model v1 failed its artifact check" in (holder.last_error or "")
    assert "changed on disk" in (holder.last_error or "")
    path.write_bytes(good)
    holder.refresh()
    assert holder.last_error is None


def test_a_vanished_served_artifact_is_reported_and_its_return_clears_the_report(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    path = publish(registry, "v1")
    holder.refresh()
    good = path.read_bytes()
    path.unlink()
    holder.refresh()
    assert served_version(holder) == "v1"
    assert "missing" in (holder.last_error or "")
    path.write_bytes(good)
    holder.refresh()
    assert holder.last_error is None


def test_the_served_artifact_is_checked_cheaply_between_full_hashes(tmp_path: Path) -> None:
    registry, clock = ModelRegistry(tmp_path), FakeMonotonic()
    hashes: list[Path] = []

    def counting_sha256(path: Path) -> str:
        hashes.append(path)
        return sha256_hex(path.read_bytes())

    check = ArtifactCheck(rehash_after_seconds=600, monotonic=clock, sha256_of=counting_sha256)
    holder = ModelHolder(RegistryModelStore(registry, lambda: DATABASE_A, check=check), monotonic=clock)
    publish(registry, "v1")
    holder.refresh()
    for _ in range(5):
        holder.refresh()
    assert len(hashes) == 1  # each poll is a stat while the file stays the same
    clock.now = 601
    holder.refresh()
    assert len(hashes) == 2


async def _database_up() -> None:
    return None


@pytest.mark.anyio
async def test_health_is_degraded_while_the_served_artifact_does_not_verify_and_healthy_once_it_does(
    tmp_path: Path,
) -> None:
    registry, holder, _ = make_holder(tmp_path)
    health = CheckHealth(_database_up, holder, FixedClock())
    assert (await health.execute()).model_loading is True
    path = publish(registry, "v1")
    holder.refresh()
    report = await health.execute()
    assert (report.status, report.model_error, report.model_loading) == (HealthState.HEALTHY, None, False)
    good = path.read_bytes()
    flip_a_byte(path)
    holder.refresh()
    report = await health.execute()
    assert (report.status, report.model_version) == (HealthState.DEGRADED, "v1")
    assert "changed on disk" in (report.model_error or "")
    path.write_bytes(good)
    holder.refresh()
    assert (await health.execute()).status is HealthState.HEALTHY


def test_the_holder_is_loading_until_its_first_refresh_has_finished(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    assert holder.loading is True
    assert "loading" in (holder.last_error or "")
    registry.path.write_text("{ not json")
    holder.refresh()  # even a refresh that finds nothing to load ends the loading
    assert holder.loading is False
    assert "cannot read the model registry" in (holder.last_error or "")


# --- one database, its own models --------------------------------------------------------


class FlakyDatabase:
    """Names database A, but only once `up`; counts how often it was asked."""

    def __init__(self, up: bool) -> None:
        self.up = up
        self.calls = 0

    def __call__(self) -> DataSource:
        self.calls += 1
        if not self.up:
            raise StorageUnavailable("database unavailable: OperationalError: connection refused")
        return DATABASE_A


def test_a_service_on_database_a_never_loads_a_model_trained_on_database_b_even_when_newer(
    tmp_path: Path,
) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "a1", source=DATABASE_A)
    publish(registry, "b1", source=DATABASE_B, created_at=T0.replace(year=2027))
    assert registry.active_version() == "b1"  # the newest active model of any source
    store = RegistryModelStore(registry, lambda: DATABASE_A)
    assert store.active_version() == "a1"
    with pytest.raises(ModelUnavailable, match="not on this service's database"):
        store.load("b1")
    assert holder.refresh() is True
    assert served_version(holder) == "a1"


def test_a_service_whose_database_has_no_active_model_serves_none_of_the_others(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "b1", source=DATABASE_B)
    publish(registry, "old", source=None)  # registered before models recorded their data
    assert holder.refresh() is False
    assert holder.current() is None
    assert "no model is active" in (holder.last_error or "")
    with pytest.raises(ModelUnavailable, match="unknown origin"):
        RegistryModelStore(registry, lambda: DATABASE_A).load("old")


def test_a_promotion_on_another_database_never_replaces_the_served_model(tmp_path: Path) -> None:
    registry, holder, _ = make_holder(tmp_path)
    publish(registry, "a1", source=DATABASE_A)
    holder.refresh()
    publish(registry, "b1", source=DATABASE_B)
    assert holder.refresh() is False
    assert served_version(holder) == "a1"
    assert holder.last_error is None


def test_an_unreachable_database_at_start_keeps_cold_start_and_is_retried_on_the_next_poll(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path)
    publish(registry, "a1", source=DATABASE_A)
    database = FlakyDatabase(up=False)
    holder = ModelHolder(RegistryModelStore(registry, database))
    assert holder.refresh() is False
    assert holder.current() is None
    assert "database id" in (holder.last_error or "")
    database.up = True
    assert holder.refresh() is True
    assert served_version(holder) == "a1"
    holder.refresh()
    assert database.calls == 2  # read once it answered, never again


def test_a_store_without_a_database_loads_any_registered_version(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    publish(registry, "b1", source=DATABASE_B)
    store = RegistryModelStore(registry)
    assert store.data_source() is None
    assert store.load("b1").version == "b1"
