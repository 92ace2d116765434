"""The database work a request awaits on the event loop, through asyncpg: the one read of a cached
feed page, and the writes of a tracked batch.

Everything else goes through SQLAlchemy in the threadpool. Through a worker thread, psycopg2 and
SQLAlchemy cost more than the rest of a cached page; a tracked batch also paid for array literals
built in Python and a statement PostgreSQL parsed and planned anew each time, where asyncpg sends
arrays in binary to a statement it prepared once (see the README's serving benchmark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy.engine import make_url

from app.application.ports import KeptListState
from app.domain.entities import Interaction
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.repositories import (
    EXISTING_IDS_SQL,
    INSERT_INTERACTIONS_SQL,
    INSERT_KNOWN_INTERACTIONS_SQL,
    KEPT_LIST_STATE_SQL,
    first_per_event_id,
    interaction_columns,
    seen_in_hex,
)
from app.shared.exceptions import InvalidInput, StorageUnavailable

# A connection the server closed (a restart, an idle timeout, a cut network) fails its next
# statement with one of these; it is closed, never reused, and one retry gets a new connection.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    ConnectionError,
)
# The data the caller sent (SQLSTATE classes 22 and 23): the caller's to handle, not an outage.
_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
# Refused or timed-out connections, and errors from the server (statement timeout, shutdown).
_UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError)


def asyncpg_dsn(database_url: str) -> str | None:
    """The URL in the form asyncpg reads, or None when the database is not PostgreSQL."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncpgPool:
    """A few asyncpg connections, one set per worker process, used in its event loop.

    Connections are made on first use, so the service starts while the database is down; each
    wait (a turn, a connection, a statement) is bounded by the same timeouts as the SQLAlchemy
    engine. Each statement runs on its own (autocommit), and none changes session state, so a
    connection needs no reset between uses. Not asyncpg's `Pool`: its acquire, release and
    connection proxy were a sixth of a cached page's CPU, for features (resets, lifetimes, setup
    hooks) nothing here uses.
    """

    def __init__(
        self, dsn: str, *, pool_size: int, connect_timeout_seconds: float, statement_timeout_ms: int
    ) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout_seconds
        self._statement_timeout_ms = statement_timeout_ms
        self._idle: list[asyncpg.Connection] = []
        self._turns: asyncio.Semaphore | None = None

    async def open(self) -> None:
        # Requests take turns for a connection in arrival order. Waiting inside asyncpg's pool
        # let a newcomer take a connection just released to a waiter, which then queued again
        # from the back: at 64 clients p50 was 8 ms and p95 180 ms.
        self._turns = asyncio.Semaphore(self._pool_size)

    async def close(self) -> None:
        """Closes the idle connections; one in use is closed when its statement is done."""
        self._turns = None
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=self._connect_timeout)
            except (*_CONNECTION_LOST, *_UNAVAILABLE):
                conn.terminate()

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """The statement's rows. Raises StorageUnavailable when the database does not answer in
        bounded time; the errors in `_REFUSED` (the data sent) reach the caller as asyncpg's.

        A statement that failed on a lost connection is sent once more on a new one, so every
        statement sent here must be safe to repeat."""
        try:
            return await self._fetch(sql, args)
        except _REFUSED:
            raise
        except _CONNECTION_LOST:
            # That connection is gone and dropped from the pool: once more, on a new one.
            try:
                return await self._fetch(sql, args)
            except _REFUSED:
                raise
            except (*_CONNECTION_LOST, *_UNAVAILABLE) as error:
                raise _unavailable(error) from error
        except _UNAVAILABLE as error:
            raise _unavailable(error) from error

    async def _fetch(self, sql: str, args: tuple[object, ...]) -> list[asyncpg.Record]:
        turns = self._turns
        if turns is None:
            raise StorageUnavailable("database unavailable: the event loop's pool is not open")
        async with asyncio.timeout(self._connect_timeout):
            await turns.acquire()
        try:
            conn = await self._connection()
        except BaseException:
            turns.release()
            raise
        try:
            rows: list[asyncpg.Record] = await conn.fetch(
                sql, *args, timeout=self._statement_timeout_ms / 1000 + 1
            )
        except BaseException as error:
            if isinstance(error, asyncpg.PostgresError) and not isinstance(error, _CONNECTION_LOST):
                self._give_back(conn, turns)  # the server refused the statement; the connection is fine
            else:
                conn.terminate()  # lost, timed out or cancelled mid-statement: never reused
                turns.release()
            raise
        self._give_back(conn, turns)
        return rows

    def _give_back(self, conn: asyncpg.Connection, turns: asyncio.Semaphore) -> None:
        if turns is self._turns:
            self._idle.append(conn)
        else:  # the pool was closed (or reopened) meanwhile
            conn.terminate()
        turns.release()

    async def _connection(self) -> asyncpg.Connection:
        """An idle connection the server has not closed, or a new one. A turn leaves at most
        pool-size connections in use, so none is ever waited for."""
        while self._idle:
            idle = self._idle.pop()
            if not idle.is_closed():
                return idle
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"statement_timeout": str(self._statement_timeout_ms)},
        )
        return conn


class AsyncpgKeptListReads:
    """`KeptListReads`: one round trip for the seen posts and the stored list's generated_at."""

    def __init__(self, pool: AsyncpgPool) -> None:
        self._pool = pool

    async def state(
        self, user_id: UUID, model_version: str, now: datetime, post_ids: Sequence[UUID]
    ) -> KeptListState:
        try:
            (seen_hex, generated_at), *_ = await self._pool.fetch(
                KEPT_LIST_STATE_SQL, user_id, model_version, now
            )
        except _REFUSED as error:
            raise _refused(error) from error
        return KeptListState(seen_in_hex(seen_hex, post_ids), generated_at)


class AsyncpgInteractionWrites:
    """`InteractionWrites`: a batch is one statement, with the same rules as the repository's
    `add_many` (unknown users and posts skipped, an event id stored once)."""

    def __init__(self, pool: AsyncpgPool) -> None:
        self._pool = pool

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        kept = first_per_event_id(interactions)
        if not kept:
            return set()
        columns = interaction_columns(kept)
        try:
            try:
                # Every user and post exists in nearly every batch: the foreign keys check them
                # anyway, so the statement that skips unknown ones (two more index lookups a row,
                # a tenth of the database's time for a batch) runs only when they fail it.
                rows = await self._pool.fetch(INSERT_INTERACTIONS_SQL, *columns)
            except asyncpg.ForeignKeyViolationError:
                rows = await self._pool.fetch(INSERT_KNOWN_INTERACTIONS_SQL, *columns)
        except _REFUSED as error:
            raise _refused(error) from error
        stored: set[UUID] = {row[0] for row in rows}
        # The ids are ours, so a statement repeated after a lost connection stores nothing twice.
        return {i.id for i in kept if i.id in stored}

    async def existing(
        self, user_ids: Iterable[UUID], post_ids: Iterable[UUID]
    ) -> tuple[set[UUID], set[UUID]]:
        rows = await self._pool.fetch(EXISTING_IDS_SQL, list(set(user_ids)), list(set(post_ids)))
        users = {row[1] for row in rows if row[0] == "user"}
        return users, {row[1] for row in rows if row[0] == "post"}


def _unavailable(error: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"database unavailable: {type(error).__name__}: {error}")


def _refused(error: BaseException) -> InvalidInput:
    return InvalidInput(f"the database refused the data: {error}")
