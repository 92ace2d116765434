"""Artifacts, the verified loader and the hot-reload ModelHolder."""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.domain.entities import Reason, Recommendation
from app.domain.ports import ModelStore, RecommendationQuery
from app.infrastructure.ml.artifact import ModelArtifact, read_artifact, sha256_hex, write_artifact
from app.infrastructure.ml.model_loader import ModelHolder, RegistryModelStore, VersionedRecommender
from app.infrastructure.ml.registry import DataSource, ModelRegistry, RegistryEntry
from app.shared.exceptions import ChecksumMismatch, ModelUnavailable, StorageUnavailable

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
POSTS = [uuid.UUID(int=n) for n in range(1, 4)]
DATABASE_A = DataSource("database", "aaaaaaaa-0000-4000-8000-000000000001", "postgresql://db-a:5432/feed")
DATABASE_B = DataSource("database", "bbbbbbbb-0000-4000-8000-000000000002", "postgresql://db-b:5432/feed")


class FixedScorer:
    """A picklable stand-in for a fitted model: always the same posts."""

    def __init__(self, label: str = "fixed") -> None:
        self.label = label
        self.trained_at = T0

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        ranked = [Recommendation(p, 1.0 - i / 10, Reason.TRENDING) for i, p in enumerate(POSTS)]
        return [r for r in ranked if r.post_id not in query.exclude][: query.limit]


class WritesMarker:
    """A pickle that runs code when loaded: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "unpickled"))


def make_query(limit: int = 10) -> RecommendationQuery:
    return RecommendationQuery(user_id=uuid.uuid4(), history=(), exclude=frozenset(), limit=limit, now=T0)


def make_artifact(model: object = None, version: str = "v1") -> ModelArtifact:
    return ModelArtifact(
        version=version,
        created_at=T0,
        model=model if model is not None else FixedScorer(),
        config={"n_neighbors": 5},
        metrics={"precision_at_10": 0.2},
        data_stats={"users": 3},
    )


def publish(
    registry: ModelRegistry,
    version: str,
    model: object = None,
    *,
    promote: bool = True,
    source: DataSource | None = DATABASE_A,
    created_at: datetime = T0,
) -> Path:
    """Write an artifact, register it as trained on `source` and (by default) promote it;
    returns the artifact path."""
    path = registry.models_dir / f"model_{version}.pkl"
    sha256 = write_artifact(make_artifact(model or FixedScorer(version), version), path)
    entry = RegistryEntry(
        version=version, filename=path.name, created_at=created_at, sha256=sha256, data_source=source
    )
    registry.add(entry)
    if promote:
        registry.promote(version)
    return path


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- artifact ---------------------------------------------------------------------------


def test_an_artifact_round_trips_and_its_hash_is_the_hash_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    sha256 = write_artifact(make_artifact(), path)
    assert sha256 == sha256_hex(path.read_bytes())
    loaded = read_artifact(path, sha256)
    assert (loaded.version, loaded.created_at, loaded.config) == ("v1", T0, {"n_neighbors": 5})
    assert isinstance(loaded.model, FixedScorer)
    assert [p.name for p in tmp_path.iterdir()] == ["model_v1.pkl"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a service running as another user


def test_a_tampered_artifact_is_refused_with_both_hashes_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    sha256 = write_artifact(make_artifact(), path)
    flip_a_byte(path)
    with pytest.raises(ChecksumMismatch) as raised:
        read_artifact(path, sha256)
    message = str(raised.value)
    assert str(path) in message
    assert sha256 in message
    assert sha256_hex(path.read_bytes()) in message


def test_a_swapped_in_malicious_pickle_is_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    marker = tmp_path / "code-ran"
    registered_sha256 = write_artifact(make_artifact(), path)
    malicious_sha256 = write_artifact(make_artifact(WritesMarker(marker)), path)

    with pytest.raises(ChecksumMismatch):
        read_artifact(path, registered_sha256)
    assert not marker.exists()

    # Control: with a matching hash the same file does run code, so the check above mattered.
    read_artifact(path, malicious_sha256)
    assert marker.exists()


def test_a_missing_artifact_is_reported_as_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="missing"):
        read_artifact(tmp_path / "gone.pkl", "00" * 32)


def test_a_pickle_that_is_not_an_artifact_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    data = pickle.dumps(["not", "an", "artifact"])
    path.write_bytes(data)
    with pytest.raises(ModelUnavailable, match="not a model artifact"):
        read_artifact(path, sha256_hex(data))


def test_an_artifact_of_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    sha256 = write_artifact(ModelArtifact("v1", T0, FixedScorer(), format_version=99), path)
    with pytest.raises(ModelUnavailable, match="format version 99"):
        read_artifact(path, sha256)


def test_bytes_that_do_not_unpickle_are_reported_as_model_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.pkl"
    path.write_bytes(b"definitely not a pickle")
    with pytest.raises(ModelUnavailable, match="cannot be unpickled"):
        read_artifact(path, sha256_hex(b"definitely not a pickle"))


# --- RegistryModelStore ----------------------------------------------------------------


def test_the_store_loads_a_versioned_recommender_that_delegates_to_the_model(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    publish(registry, "v1")
    store: ModelStore = RegistryModelStore(registry)
    assert store.active_version() == "v1"
    model = store.load("v1")
    assert isinstance(model, VersionedRecommender)
    assert model.version == "v1"
    assert model.trained_at == T0
    assert model.config == {"n_neighbors": 5}
    assert [r.post_id for r in model.recommend(make_query(limit=2))] == POSTS[:2]


def test_the_store_refuses_an_unregistered_version(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not in the registry"):
        RegistryModelStore(ModelRegistry(tmp_path)).load("v9")


def test_the_store_refuses_a_tampered_artifact(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    flip_a_byte(publish(registry, "v1"))
    with pytest.raises(ChecksumMismatch):
        RegistryModelStore(registry).load("v1")


def test_the_store_refuses_an_object_without_a_recommend_method(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    publish(registry, "v1", model={"weights": [1, 2]})
    with pytest.raises(ModelUnavailable, match="no recommend"):
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
