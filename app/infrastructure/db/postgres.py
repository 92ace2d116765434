"""How the service reaches PostgreSQL: asyncpg, through one small pool per purpose, on the event loop.

Not SQLAlchemy's asyncio engine, which tripled the CPU a statement costs (benchmarks/db_access.py),
nor asyncpg's `Pool`, whose acquire, release and connection proxy cost more than the features
nothing here uses (resets, lifetimes, setup hooks) are worth; docs/decisions.md has the figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import normalise_url
from app.shared.exceptions import Conflict, InvalidInput, StorageUnavailable

# A connection the server closed (a restart, an idle timeout, a cut network) fails its next
# statement with one of these; it is closed, never reused, and one retry gets a new connection.
# An idle connection that read the server's goodbye without noticing the close fails with an
# InternalClientError (its protocol is in a state it cannot leave).
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)
# The data the caller sent (SQLSTATE classes 22 and 23, and values asyncpg cannot encode, which it
# raises as class 22): the caller's to handle, not an outage.
REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
# Refused or timed-out connections, and errors from the server (statement timeout, shutdown).
UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError)


def asyncpg_dsn(database_url: str) -> str | None:
    """The URL in the form asyncpg reads, or None when the database is not PostgreSQL."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresPool:
    """A few asyncpg connections of one worker process, used in its event loop.

    Connections are made on first use, so the service starts while the database is down; each
    wait (a turn, a connection, a statement) is bounded. Statements run on their own
    (autocommit) unless in `transaction`, and none changes session state, so a connection needs
    no reset between uses.
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

    @property
    def statement_timeout(self) -> float:
        """Seconds a client waits for a statement: the server's limit and a second to say so."""
        return self._statement_timeout_ms / 1000 + 1

    async def open(self) -> None:
        # Requests take turns for a connection in arrival order. Waiting inside asyncpg's pool
        # let a newcomer take a connection just released to a waiter, which queued again.
        self._turns = asyncio.Semaphore(self._pool_size)

    async def close(self) -> None:
        """Closes the idle connections; one in use is closed when its statement is done."""
        self._turns = None
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=self._connect_timeout)
            except (*CONNECTION_LOST, *UNAVAILABLE):
                conn.terminate()

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """The statement's rows. Raises StorageUnavailable when the database does not answer in
        bounded time, InvalidInput when it refuses the data sent.

        A statement that failed on a lost connection is sent once more on a new one, so every
        statement sent here must be safe to repeat."""
        try:
            try:
                return await self._fetch(sql, args)
            except CONNECTION_LOST:
                # That connection is gone, and after a restart so are the idle ones: once more, on
                # a new connection.
                return await self._fetch(sql, args, new=True)
        except REFUSED as error:
            raise refused(error) from error
        except (*CONNECTION_LOST, *UNAVAILABLE) as error:
            raise unavailable(error) from error

    async def _fetch(self, sql: str, args: tuple[object, ...], *, new: bool = False) -> list[asyncpg.Record]:
        async with self.connection(new=new) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args, timeout=self.statement_timeout)
            return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction, committed when the block ends; errors as `fetch`'s,
        without the retry."""
        try:
            async with self.connection() as conn, conn.transaction():
                yield conn
        except REFUSED as error:
            raise refused(error) from error
        except (*CONNECTION_LOST, *UNAVAILABLE) as error:
            raise unavailable(error) from error

    @asynccontextmanager
    async def connection(self, *, new: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one turn (a new one if `new`, else an idle one when there is one):
        given back when the block ends, unless it was lost, timed out or cancelled mid-statement
        (then it is closed, never reused)."""
        turns = self._turns
        if turns is None:
            raise StorageUnavailable("database unavailable: the pool is not open")
        async with asyncio.timeout(self._connect_timeout):
            await turns.acquire()
        try:
            conn = await self._connect(new)
        except BaseException:
            turns.release()
            raise
        try:
            yield conn
        except BaseException as error:
            if isinstance(error, asyncpg.PostgresError) and not isinstance(error, CONNECTION_LOST):
                self._give_back(conn, turns)  # the server refused the statement; the connection is fine
            else:
                conn.terminate()
                turns.release()
            raise
        self._give_back(conn, turns)

    def _give_back(self, conn: asyncpg.Connection, turns: asyncio.Semaphore) -> None:
        if turns is self._turns:
            self._idle.append(conn)
        else:  # the pool was closed (or reopened) meanwhile
            conn.terminate()
        turns.release()

    async def _connect(self, new: bool) -> asyncpg.Connection:
        """An idle connection the server has not closed, or a new one (always, if `new`: the retry
        after a lost connection, which was closed first). A turn leaves at most pool-size
        connections in use, so none is ever waited for."""
        while self._idle and not new:
            idle = self._idle.pop()
            if not idle.is_closed():
                return idle
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"statement_timeout": str(self._statement_timeout_ms)},
        )
        return conn


def unavailable(error: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"database unavailable: {type(error).__name__}: {error}")


class MissingReference(InvalidInput):
    """A row refers to one that does not exist (a foreign key violation)."""


def refused(error: BaseException) -> InvalidInput:
    kind: type[InvalidInput] = InvalidInput
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        kind = MissingReference
    elif isinstance(error, asyncpg.UniqueViolationError):
        kind = Conflict  # the one unique key not resolved by ON CONFLICT: a username
    return kind(f"the database refused the data: {error}")
