"""Engines: bounded connect and statement timeouts, TCP keepalives, a ping for idle connections,
SQLite pragmas."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url


def normalise_url(database_url: str) -> str:
    """The URL with an explicit driver: postgres:// and postgresql:// mean psycopg2 here.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which this project does not install.
    """
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg2://" + database_url[len(prefix) :]
    return database_url


def ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)


# Every PostgreSQL connection (asyncpg's and psycopg2's) finds a dead peer by itself: an idle one is
# probed after 5 s and dropped after three probes 2 s apart go unanswered, and one whose sent data
# stays unacknowledged for 10 s is dropped too (a network cut, a host gone). A database that still
# acknowledges but never answers is caught by the statement bounds instead.
KEEPALIVE_IDLE_SECONDS = 5
KEEPALIVE_INTERVAL_SECONDS = 2
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_MS = 10_000

# A pooled PostgreSQL connection idle longer than this is pinged before use. Busy connections are
# not, to spare a round trip per checkout: one that died while busy fails its statement, and
# SQLAlchemy then replaces every pooled connection.
IDLE_PING_SECONDS = 1.0


def build_engine(
    database_url: str,
    *,
    connect_timeout_seconds: float = 3.0,
    statement_timeout_ms: int = 5000,
    pool_size: int = 10,
) -> Engine:
    """An engine whose failures surface within bounded time instead of hanging: the service's
    SQLite database, and the batch jobs (seed, train, precompute) on either database."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(database_url)
        engine = create_engine(
            url, connect_args={"timeout": connect_timeout_seconds, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=connect_timeout_seconds,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": max(1, round(connect_timeout_seconds)),
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
            "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        },
    )
    event.listen(engine, "checkout", _ping_if_idle)
    event.listen(engine, "checkin", _mark_idle)
    return engine


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for idle connections only: a failed ping
    raises DisconnectionError, and the pool retries with a new connection."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()  # the ping opened a transaction
    except Exception as error:
        raise sa_exc.DisconnectionError(f"pooled connection is gone: {error}") from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; foreign keys make ON DELETE CASCADE real.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
