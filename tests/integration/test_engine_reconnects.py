"""The sync engine of the SQLite database and the batch jobs (seed, train, precompute): pooled
PostgreSQL connections the server closed are replaced without a restart, and SQLite connections
get their pragmas."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc

from app.infrastructure.db.engine import IDLE_PING_SECONDS, build_engine, normalise_url


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    built = build_engine(postgres_url, pool_size=3)
    yield built
    built.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.scalar(text("SELECT pg_backend_pid()"))
    return pid


def _terminate(postgres_url: str, pid: int) -> None:
    """Closes a backend from the server side and waits until it is gone."""
    admin = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        while conn.scalar(alive, {"pid": pid}):
            time.sleep(0.01)
    admin.dispose()


@pytest.mark.postgres
def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    engine: Engine, postgres_url: str
) -> None:
    pid = _backend_pid(engine)
    _terminate(postgres_url, pid)
    time.sleep(IDLE_PING_SECONDS + 0.1)
    with engine.begin() as conn:  # the ping failed; a new connection serves this
        assert conn.scalar(text("SELECT count(*) FROM users")) is not None
    assert _backend_pid(engine) != pid


@pytest.mark.postgres
def test_a_busy_connection_the_server_closed_fails_once_then_the_pool_recovers(
    engine: Engine, postgres_url: str
) -> None:
    pid = _backend_pid(engine)
    _terminate(postgres_url, pid)
    # Reused within the idle window, the connection is not pinged and its statement fails.
    with pytest.raises(sa_exc.OperationalError) as failed, engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM users"))
    assert failed.value.connection_invalidated
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT count(*) FROM users")) is not None
    assert _backend_pid(engine) != pid


@pytest.mark.postgres
def test_a_statement_past_the_timeout_is_cancelled(postgres_url: str) -> None:
    engine = build_engine(postgres_url, statement_timeout_ms=200)
    try:
        started = time.monotonic()
        with pytest.raises(sa_exc.OperationalError, match="statement timeout"), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(3)"))
        assert time.monotonic() - started < 2
    finally:
        engine.dispose()


def test_a_sqlite_engine_makes_its_directory_and_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'nested' / 'app.db'}")
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA busy_timeout")) == 5000
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "app.db").exists()
