"""A database's id (service_meta, migration 0004) and a service that serves only its own models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, delete, inspect

from app.bootstrap import build_container
from app.domain.entities import Recommendation
from app.domain.ports import RecommendationQuery
from app.infrastructure.config import ModelSettings, Settings
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.identity import read_database_id
from app.infrastructure.db.migrate import alembic_config, reset, upgrade_to_head
from app.infrastructure.db.orm import ServiceMetaRow
from app.infrastructure.ml.registry import ModelRegistry
from app.shared.exceptions import StorageUnavailable
from tests.conftest import create_database
from training.export_model import export_model
from training.sources import database_source

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


class EmptyScorer:
    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        return []


def database_id(url: str) -> str:
    engine = create_engine(normalise_url(url))
    try:
        return read_database_id(engine)
    finally:
        engine.dispose()


def has_service_meta(url: str) -> bool:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table("service_meta")
    finally:
        engine.dispose()


def migrated_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    return url


@pytest.fixture
def postgres_pair(postgres_admin_url: str) -> Iterator[tuple[str, str]]:
    with (
        create_database(postgres_admin_url, f"ml_identity_{uuid.uuid4().hex[:8]}") as first,
        create_database(postgres_admin_url, f"ml_identity_{uuid.uuid4().hex[:8]}") as second,
    ):
        upgrade_to_head(first)
        upgrade_to_head(second)
        yield first, second


def assert_ids_are_uuids_of_their_own_and_stay(first: str, second: str) -> None:
    one, other = database_id(first), database_id(second)
    assert uuid.UUID(one) != uuid.UUID(other)
    assert database_id(first) == one


def test_every_migrated_sqlite_database_gets_an_id_of_its_own_that_stays(tmp_path: Path) -> None:
    assert_ids_are_uuids_of_their_own_and_stay(
        migrated_sqlite(tmp_path / "a.db"), migrated_sqlite(tmp_path / "b.db")
    )


@pytest.mark.postgres
def test_every_migrated_postgres_database_gets_an_id_of_its_own_that_stays(
    postgres_pair: tuple[str, str],
) -> None:
    assert_ids_are_uuids_of_their_own_and_stay(*postgres_pair)


def test_a_missing_id_row_is_written_once_and_then_kept(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "a.db")
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(delete(ServiceMetaRow))
    written = read_database_id(engine)
    assert read_database_id(engine) == written
    engine.dispose()


def test_a_database_whose_schema_predates_the_id_says_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0003")
    with pytest.raises(StorageUnavailable, match="ml-service migrate"):
        database_id(url)


def test_an_unreachable_database_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        database_id("postgresql://postgres@127.0.0.1:1/nowhere")


def downgrade_and_upgrade_again(url: str) -> None:
    before = database_id(url)
    command.downgrade(alembic_config(url), "0003")
    assert not has_service_meta(url)
    upgrade_to_head(url)
    assert database_id(url) != before


def test_migration_0004_downgrades_and_upgrades_on_sqlite(tmp_path: Path) -> None:
    downgrade_and_upgrade_again(migrated_sqlite(tmp_path / "a.db"))


@pytest.mark.postgres
def test_migration_0004_downgrades_and_upgrades_on_postgres(postgres_pair: tuple[str, str]) -> None:
    downgrade_and_upgrade_again(postgres_pair[0])


def test_a_reset_schema_gets_a_new_id(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "a.db")
    before = database_id(url)
    reset(url)  # drops the data tables, keeps service_meta, migrates again
    assert database_id(url) != before


# --- a service serves only models trained on its own database ------------------------------


def test_a_service_on_database_a_serves_its_model_not_database_bs_newer_one(tmp_path: Path) -> None:
    database_a, database_b = migrated_sqlite(tmp_path / "a.db"), migrated_sqlite(tmp_path / "b.db")
    models = tmp_path / "models"
    own = export_model(
        EmptyScorer(),
        models_dir=models,
        config={},
        metrics={},
        data_stats={},
        data_source=database_source(database_a),
        status="active",
        now=T0,
    )
    newer = export_model(
        EmptyScorer(),
        models_dir=models,
        config={},
        metrics={},
        data_stats={},
        data_source=database_source(database_b),
        status="active",
        now=T0 + timedelta(days=1),
    )
    assert ModelRegistry(models).active_version() == newer.version
    container = build_container(Settings(database_url=database_a, model=ModelSettings(models_dir=models)))
    try:
        container.models.refresh()
        served = container.models.current()
        assert served is not None
        assert served.version == own.version
    finally:
        container.close()


def test_a_service_whose_database_is_down_at_start_serves_no_model_and_does_not_crash(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nowhere",
        model=ModelSettings(models_dir=tmp_path / "models"),
    )
    container = build_container(settings)
    try:
        assert container.models.refresh() is False
        assert container.models.current() is None
        assert "database id" in (container.models.last_error or "")
    finally:
        container.close()
