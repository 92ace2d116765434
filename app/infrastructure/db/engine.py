"""Engine and session factory: bounded connect and statement timeouts, pre-ping, SQLite pragmas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


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


def build_engine(
    database_url: str,
    *,
    connect_timeout_seconds: float = 3.0,
    statement_timeout_ms: int = 5000,
    pool_size: int = 5,
) -> Engine:
    """An engine whose failures surface within bounded time instead of hanging a request."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(database_url)
        engine = create_engine(
            url, connect_args={"timeout": connect_timeout_seconds, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_timeout=connect_timeout_seconds,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": max(1, round(connect_timeout_seconds)),
            "options": f"-c statement_timeout={statement_timeout_ms}",
        },
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; foreign keys make ON DELETE CASCADE real.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def build_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
