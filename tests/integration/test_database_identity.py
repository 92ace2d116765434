"""A database's id (service_meta, migration 0004) and a service that serves only its own models.

The service reads the id through its stores; the training job through `read_database_id` and a
sync engine. Both must name a database alike, or no model trained on it would ever be served.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, delete, inspect

from app.bootstrap import build_container
from app.infrastructure.config import ModelSettings, Settings
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.identity import read_database_id
from app.infrastructure.db.migrate import alembic_config, reset, upgrade_to_head
from app.infrastructure.db.orm import ServiceMetaRow
from app.infrastructure.db.stores import DatabaseTimeouts, connected
from app.infrastructure.ml.registry import ModelRegistry
from app.runtime import Runtime
from app.shared.exceptions import StorageUnavailable
from tests.conftest import create_database
from tests.fitted import fitted
from training.export_model import export_model
from training.sources import database_source

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)
NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"


async def database_id(url: str) -> str:
    """The id as the service reads it."""
    async with connected(url, DatabaseTimeouts(connect_seconds=1.0)) as stores:
        return await stores.database_id()


def training_id(url: str) -> str:
    """The id as a training job reads it."""
    engine = create_engine(normalise_url(url))
    try:
        return read_database_id(engine)
    finally:
        engine.dispose()


def forget_id(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(delete(ServiceMetaRow))
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two migrated databases of one backend."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "a.db"), migrated_sqlite(tmp_path / "b.db")
    first, second = request.getfixturevalue("postgres_pair")
    return first, second


async def test_every_migrated_database_gets_an_id_of_its_own_that_stays(pair: tuple[str, str]) -> None:
    first, second = pair
    one, other = await database_id(first), await database_id(second)
    assert uuid.UUID(one) != uuid.UUID(other)
    assert await database_id(first) == one


async def test_the_service_and_a_training_job_name_a_database_alike(pair: tuple[str, str]) -> None:
    first, second = pair
    assert await database_id(first) == training_id(first)
    assert training_id(second) == await database_id(second)


async def test_a_missing_id_row_is_written_once_and_then_kept(pair: tuple[str, str]) -> None:
    url = pair[0]
    before = await database_id(url)
    forget_id(url)
    written = await database_id(url)
    assert written != before
    assert await database_id(url) == training_id(url) == written


async def test_a_database_whose_schema_predates_the_id_says_to_migrate(pair: tuple[str, str]) -> None:
    url = pair[0]
    command.downgrade(alembic_config(url), "0003")
    with pytest.raises(StorageUnavailable, match="ml-service migrate"):
        await database_id(url)
    with pytest.raises(StorageUnavailable, match="ml-service migrate"):
        training_id(url)


async def test_an_unreachable_database_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        await database_id(NOWHERE)
    with pytest.raises(StorageUnavailable):
        training_id(NOWHERE)


async def test_migration_0004_downgrades_and_upgrades_with_a_new_id(pair: tuple[str, str]) -> None:
    url = pair[0]
    before = await database_id(url)
    command.downgrade(alembic_config(url), "0003")
    assert not has_service_meta(url)
    upgrade_to_head(url)
    assert await database_id(url) != before


async def test_a_reset_schema_gets_a_new_id(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "a.db")
    before = await database_id(url)
    reset(url)  # drops the data tables, keeps service_meta, migrates again
    assert await database_id(url) != before


# --- a service serves only models trained on its own database ------------------------------


async def test_a_service_on_database_a_serves_its_model_not_database_bs_newer_one(tmp_path: Path) -> None:
    database_a, database_b = migrated_sqlite(tmp_path / "a.db"), migrated_sqlite(tmp_path / "b.db")
    models = tmp_path / "models"

    def export(database: str, now: datetime) -> str:
        exported = export_model(
            fitted(),
            models_dir=models,
            config={},
            metrics={},
            data_stats={},
            data_source=database_source(database),
            status="active",
            now=now,
        )
        return exported.version

    own, newer = export(database_a, T0), export(database_b, T0 + timedelta(days=1))
    assert ModelRegistry(models).active_version() == newer
    container = build_container(Settings(database_url=database_a, model=ModelSettings(models_dir=models)))
    runtime = Runtime(container)
    await runtime.start()
    await runtime.wait_for_model()
    try:
        served = container.models.current()
        assert served is not None
        assert served.version == own
    finally:
        await runtime.stop()


async def test_a_service_whose_database_is_down_at_start_serves_no_model_and_does_not_crash(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=NOWHERE,
        db_connect_timeout_seconds=1.0,
        model=ModelSettings(models_dir=tmp_path / "models"),
    )
    container = build_container(settings)
    runtime = Runtime(container)
    await runtime.start()
    await runtime.wait_for_model()
    try:
        assert container.models.current() is None
        assert "database id" in (container.models.last_error or "")
        await runtime.refresh_model()  # the next registry poll tries again, and fails alike
        assert container.own_database.source is None
    finally:
        await runtime.stop()
