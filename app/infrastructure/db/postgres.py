"""How the service reaches PostgreSQL: asyncpg, through one small pool per purpose, on the event loop.

Not SQLAlchemy's asyncio engine, which tripled the CPU a statement costs (benchmarks/db_access.py),
nor asyncpg's `Pool`, whose acquire, release and connection proxy cost more than the features
nothing here uses (resets, lifetimes, setup hooks) are worth; docs/decisions.md has the figures.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE_SECONDS,
    KEEPALIVE_INTERVAL_SECONDS,
    TCP_USER_TIMEOUT_MS,
    normalise_url,
)
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
# How much longer than the server's statement_timeout a caller waits: long enough for the server's
# own cancel to arrive (the connection is kept), short enough to keep a 503 within the bound.
ANSWER_MARGIN_SECONDS = 0.5


def asyncpg_dsn(database_url: str) -> str | None:
    """The URL in the form asyncpg reads, or None when the database is not PostgreSQL."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Silences:
    """How many times a call of a pool sharing this got no answer in time. A connection idle since
    then may have lost its path to the database (a network cut, a failover) without knowing it, so
    it is not reused; every pool of one database shares one count."""

    def __init__(self) -> None:
        self.count = 0


def keep_alive(sock: Any) -> None:
    """TCP keepalives and a user timeout (engine.py's) on a connection's socket, where the platform
    has them; nothing on a Unix socket."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_SECONDS),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_SECONDS),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class _KeptAliveConnection(asyncpg.Connection):
    """asyncpg has no keepalive settings: the socket gets them as the connection is made."""

    __slots__ = ()

    def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, transport, *args, **kwargs)
        keep_alive(transport.get_extra_info("socket"))


class PostgresPool:
    """A few asyncpg connections of one worker process, used in its event loop.

    Connections are made on first use, so the service starts while the database is down. A call
    (its turn, a connection, its statements, one retry) ends within `statement_timeout` seconds
    whatever the database does; TCP keepalives and a user timeout find a dead peer of an idle
    connection. Statements run on their own (autocommit) unless in `transaction`, and none changes
    session state, so a connection needs no reset between uses.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int,
        connect_timeout_seconds: float,
        statement_timeout_ms: int,
        silences: Silences | None = None,
    ) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout_seconds
        self._statement_timeout_ms = statement_timeout_ms
        self._call_timeout = statement_timeout_ms / 1000 + ANSWER_MARGIN_SECONDS
        self._silences = silences or Silences()
        # Idle connections, each with the silence count when it was given back.
        self._idle: list[tuple[asyncpg.Connection, int]] = []
        self._turns: asyncio.Semaphore | None = None

    @property
    def statement_timeout(self) -> float:
        """Seconds a call waits in all: the server's statement limit and half a second for its
        answer to arrive, so a statement that runs long is cancelled by the server and its
        connection kept."""
        return self._call_timeout

    async def open(self) -> None:
        # Requests take turns for a connection in arrival order. Waiting inside asyncpg's pool
        # let a newcomer take a connection just released to a waiter, which queued again.
        self._turns = asyncio.Semaphore(self._pool_size)

    async def close(self) -> None:
        """Closes the idle connections; one in use is closed when its statement is done."""
        self._turns = None
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._close(conn) for conn, _ in idle))

    async def _close(self, conn: asyncpg.Connection) -> None:
        try:
            await conn.close(timeout=self._connect_timeout)
        except (*CONNECTION_LOST, *UNAVAILABLE):
            conn.terminate()

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """The statement's rows. Raises StorageUnavailable when the database does not answer within
        `statement_timeout`, InvalidInput when it refuses the data sent.

        A statement that failed on a lost connection is sent once more on a new one, so every
        statement sent here must be safe to repeat."""
        deadline = asyncio.get_running_loop().time() + self._call_timeout
        try:
            try:
                return await self._fetch(sql, args, deadline)
            except CONNECTION_LOST:
                # That connection is gone, and after a restart so are the idle ones: once more, on
                # a new connection.
                return await self._fetch(sql, args, deadline, new=True)
        except REFUSED as error:
            raise refused(error) from error
        except (*CONNECTION_LOST, *UNAVAILABLE) as error:
            raise self._unavailable(error) from error

    async def delete_in_batches(self, sql: str, *args: object, batch: int = 10_000) -> int:
        """Runs `sql`, a delete of at most its last parameter's count of rows that returns how
        many went, until fewer than `batch` go: a large backlog is cleared call by call instead
        of timing out whole. Returns the total."""
        total = 0
        while True:
            ((deleted,),) = await self.fetch(sql, *args, batch)
            total += int(deleted)
            if deleted < batch:
                return total

    async def _fetch(
        self, sql: str, args: tuple[object, ...], deadline: float, *, new: bool = False
    ) -> list[asyncpg.Record]:
        async with self.connection(new=new, deadline=deadline) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args, timeout=self._call_timeout)
            return rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction, committed when the block ends and rolled back (by
        closing the connection, not waiting on a ROLLBACK) when it raises; errors as `fetch`'s,
        without the retry, and the whole block bounded by `statement_timeout`."""
        try:
            async with self.connection() as conn:
                try:
                    await conn.execute("BEGIN")
                    yield conn
                    await conn.execute("COMMIT")
                except BaseException:
                    conn.terminate()  # the server rolls back the transaction of a closed connection
                    raise
        except REFUSED as error:
            raise refused(error) from error
        except (*CONNECTION_LOST, *UNAVAILABLE) as error:
            raise self._unavailable(error) from error

    @asynccontextmanager
    async def connection(
        self, *, new: bool = False, deadline: float | None = None
    ) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one turn (a new one if `new`, else an idle one when there is one),
        until `deadline` (event loop time; `statement_timeout` from now by default): no turn by
        then is StorageUnavailable, no connection or block done by then a TimeoutError. Given back
        when the block ends, unless it was lost, timed out or cancelled mid-statement (then it is
        closed, never reused)."""
        turns = self._turns
        if turns is None:
            raise StorageUnavailable("database unavailable: the pool is not open")
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self._call_timeout
        try:
            if turns.locked():  # else the turn is taken at once, with no timer to set
                async with asyncio.timeout_at(deadline):
                    await turns.acquire()
            else:
                await turns.acquire()
        except TimeoutError:
            raise StorageUnavailable(
                f"database busy: no connection free within {self._call_timeout:g} s"
            ) from None
        conn: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout_at(deadline):
                conn = await self._connect(new)
                yield conn
        except BaseException as error:
            if isinstance(error, TimeoutError):
                self._silences.count += 1  # the idle connections may all be as dead as this one
            if conn is None:
                turns.release()
            elif isinstance(error, asyncpg.PostgresError) and not isinstance(error, CONNECTION_LOST):
                self._give_back(conn, turns)  # the server refused the statement; the connection is fine
            else:
                conn.terminate()
                turns.release()
            raise
        self._give_back(conn, turns)

    def _give_back(self, conn: asyncpg.Connection, turns: asyncio.Semaphore) -> None:
        if turns is self._turns and not conn.is_closed():
            self._idle.append((conn, self._silences.count))
        else:  # closed by the caller, or the pool was closed (or reopened) meanwhile
            conn.terminate()
        turns.release()

    async def _connect(self, new: bool) -> asyncpg.Connection:
        """An idle connection the server has not closed and no silence has made suspect, or a new
        one (always, if `new`: the retry after a lost connection, which was closed first). A turn
        leaves at most pool-size connections in use, so none is ever waited for."""
        while self._idle and not new:
            idle, silences = self._idle.pop()
            if silences == self._silences.count and not idle.is_closed():
                return idle
            idle.terminate()
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            # The client's bound on a statement sent without one (BEGIN, COMMIT, SET LOCAL), and
            # on the cancel request asyncpg sends for a statement that timed out.
            command_timeout=self._call_timeout,
            server_settings={"statement_timeout": str(self._statement_timeout_ms)},
            connection_class=_KeptAliveConnection,
        )
        return conn

    def _unavailable(self, error: BaseException) -> StorageUnavailable:
        if isinstance(error, TimeoutError):
            return StorageUnavailable(f"database unavailable: no answer within {self._call_timeout:g} s")
        return unavailable(error)


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
