"""Units of work over real databases: each test runs inside a transaction rolled back afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.infrastructure.db.engine import build_engine
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = build_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file of this test's own (pysqlite's savepoints cannot isolate tests)."""
    path = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, path)
    engine = build_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@contextmanager
def rolled_back_uow_factory(engine: Engine) -> Iterator[Callable[[], SqlAlchemyUnitOfWork]]:
    """Every unit of work joins one outer transaction; its commits become savepoints."""
    if engine.dialect.name == "sqlite":
        yield lambda: SqlAlchemyUnitOfWork(engine)
        return
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield lambda: SqlAlchemyUnitOfWork(connection)
    finally:
        outer.rollback()
        connection.close()
