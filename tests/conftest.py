"""Fixtures shared by every test folder: a real PostgreSQL when one answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import normalise_url

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return normalise_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))


def _postgres_or_skip() -> str:
    url = _admin_url()
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure to connect means "no server here"
        message = f"PostgreSQL not reachable at TEST_DATABASE_URL ({error.__class__.__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: in CI the PostgreSQL tests must run, not skip")
        pytest.skip(message)
    return url


@pytest.fixture
def anyio_backend() -> str:
    """Tests marked `anyio` run on asyncio only, the loop the service runs on."""
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The server's maintenance database (from TEST_DATABASE_URL); tests must not write to it."""
    return _postgres_or_skip()


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test session, migrated to head, dropped afterwards."""
    name = f"ml_test_{uuid.uuid4().hex[:10]}"
    with create_database(postgres_admin_url, name) as url:
        from app.infrastructure.db.migrate import upgrade_to_head

        upgrade_to_head(url)
        yield url


@contextmanager
def create_database(admin_url: str, name: str) -> Iterator[str]:
    """A throwaway database on the server of `admin_url`, dropped on exit."""
    _autocommit(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _autocommit(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _autocommit(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()
