"""What identifies training data, and the active model's configuration for it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.infrastructure.db.identity import describe_database
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.registry import DataSource, ModelRegistry, RegistryEntry
from training.sources import active_config_for, file_source, knn_config_from

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
DATABASE_A = DataSource("database", "aaaaaaaa-0000-4000-8000-000000000001")
DATABASE_B = DataSource("database", "bbbbbbbb-0000-4000-8000-000000000002")


def test_a_database_is_described_without_its_user_or_password() -> None:
    described = describe_database("postgresql://feed:s3cret@db.internal:5433/feed")
    assert described == "postgresql://db.internal:5433/feed"
    assert "s3cret" not in described
    assert "feed:" not in described


def test_a_file_is_identified_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    first, second, changed = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    first.write_text('{"users": []}')
    second.write_text('{"users": []}')
    changed.write_text('{"users": [1]}')
    assert file_source(first).key == file_source(second).key != file_source(changed).key
    assert file_source(first).display == str(first)


def test_a_registry_config_becomes_a_knn_config_whatever_keys_it_has() -> None:
    config = knn_config_from({"n_neighbors": 20, "a_setting_from_later_code": "x"})
    assert config == KnnConfig(n_neighbors=20)
    assert knn_config_from({}) == KnnConfig()
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_config_from({"n_neighbors": 0})


def test_the_active_config_is_that_of_the_model_active_for_the_data_source(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for version, source, k in (("a1", DATABASE_A, 20), ("b1", DATABASE_B, 50)):
        entry = RegistryEntry(
            version, f"model_{version}.pkl", T0, "ab" * 32, config={"n_neighbors": k}, data_source=source
        )
        registry.add(entry)
        registry.promote(version)
    assert active_config_for(tmp_path, DATABASE_A) == {"n_neighbors": 20}
    assert active_config_for(tmp_path, DATABASE_B) == {"n_neighbors": 50}
    assert active_config_for(tmp_path, DataSource("file", "ff" * 32)) is None
