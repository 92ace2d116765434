"""Pooled connections that PostgreSQL has closed: the engine recovers without a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from app.infrastructure.db.engine import IDLE_PING_SECONDS, build_engine, normalise_url
from app.infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork
from app.shared.exceptions import StorageUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture(params=[False, True], ids=["transactional", "autocommit"])
def engine(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[Engine]:
    built = build_engine(postgres_url, pool_size=3, autocommit=request.param)
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


def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    engine: Engine, postgres_url: str
) -> None:
    pid = _backend_pid(engine)
    _terminate(postgres_url, pid)
    time.sleep(IDLE_PING_SECONDS + 0.1)
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert uow.users.get(uuid.uuid4()) is None  # the ping failed; a new connection served this
    assert _backend_pid(engine) != pid


def test_a_busy_connection_the_server_closed_fails_once_then_the_pool_recovers(
    engine: Engine, postgres_url: str
) -> None:
    pid = _backend_pid(engine)
    _terminate(postgres_url, pid)
    # Reused within the idle window, the connection is not pinged and its statement fails.
    with pytest.raises(StorageUnavailable), SqlAlchemyUnitOfWork(engine) as uow:
        uow.users.get(uuid.uuid4())
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert uow.users.get(uuid.uuid4()) is None
    assert _backend_pid(engine) != pid
