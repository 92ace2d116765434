"""The one read a cached feed page needs, awaited on the event loop through asyncpg.

Everything else goes through SQLAlchemy in the threadpool. A page served from a worker's memory
asks PostgreSQL only which posts the user has seen and when the user's stored list was generated;
through a worker thread, psycopg2 and SQLAlchemy cost more than the rest of the page (see the
README's serving benchmark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy.engine import make_url

from app.application.ports import KeptListState
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.repositories import KEPT_LIST_STATE_SQL, seen_in_hex
from app.shared.exceptions import StorageUnavailable

# A pooled connection the server closed (a restart, an idle timeout, a cut network) fails its
# first statement with one of these; the pool drops it, and one retry gets a new connection.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    ConnectionError,
)
# Refused or timed-out connections, and errors from the server (statement timeout, shutdown).
_UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError)


def asyncpg_dsn(database_url: str) -> str | None:
    """The URL in the form asyncpg reads, or None when the database is not PostgreSQL."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncpgKeptListReads:
    """`KeptListReads` over a small asyncpg pool, one per worker process, opened in its event loop.

    Connections are made on first use, so the service starts while the database is down; each
    wait (a connection, a statement) is bounded by the same timeouts as the SQLAlchemy engine.
    """

    def __init__(
        self, dsn: str, *, pool_size: int, connect_timeout_seconds: float, statement_timeout_ms: int
    ) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout_seconds
        self._statement_timeout_ms = statement_timeout_ms
        self._pool: asyncpg.Pool | None = None
        self._turns: asyncio.Semaphore | None = None

    async def open(self) -> None:
        # Requests take turns for a connection in arrival order. Waiting in the pool itself let
        # a newcomer take a connection just released to a waiter, which then queued again from
        # the back: at 64 clients p50 was 8 ms and p95 180 ms.
        self._turns = asyncio.Semaphore(self._pool_size)
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._pool_size,
            timeout=self._connect_timeout,
            server_settings={"statement_timeout": str(self._statement_timeout_ms)},
            # The pool runs one read that changes no session state: asyncpg's default reset on
            # release (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks) was a round trip a page.
            reset=_keep_session,
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def state(
        self, user_id: UUID, model_version: str, now: datetime, post_ids: Sequence[UUID]
    ) -> KeptListState:
        args = (user_id, model_version, now)
        try:
            row = await self._fetch(args)
        except _CONNECTION_LOST:
            # That connection is gone and dropped from the pool: once more, on a new one.
            try:
                row = await self._fetch(args)
            except (*_CONNECTION_LOST, *_UNAVAILABLE) as error:
                raise _unavailable(error) from error
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error
        seen_hex, generated_at = row
        return KeptListState(seen_in_hex(seen_hex, post_ids), generated_at)

    async def _fetch(self, args: tuple[UUID, str, datetime]) -> asyncpg.Record:
        if self._pool is None or self._turns is None:
            raise StorageUnavailable("database unavailable: the event loop's pool is not open")
        async with asyncio.timeout(self._connect_timeout):  # the turn and the connection
            await self._turns.acquire()
            try:
                conn = await self._pool.acquire()
            except BaseException:
                self._turns.release()
                raise
        try:
            row = await conn.fetchrow(
                KEPT_LIST_STATE_SQL, *args, timeout=self._statement_timeout_ms / 1000 + 1
            )
        finally:
            try:
                await self._pool.release(conn)
            finally:
                self._turns.release()
        assert row is not None  # a SELECT without FROM returns one row
        return row


def _unavailable(error: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"database unavailable: {type(error).__name__}: {error}")


async def _keep_session(_connection: asyncpg.Connection) -> None:
    return None
