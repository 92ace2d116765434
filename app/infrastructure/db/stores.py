"""The service's repositories over one database: asyncpg pools for PostgreSQL, SQLAlchemy Core in
worker threads for the embedded SQLite default."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import text

from app.domain.ports import (
    InteractionRepository,
    PostRepository,
    ServedListRepository,
    StoredListRepository,
    UserRepository,
)
from app.infrastructure.db.engine import build_engine
from app.infrastructure.db.identity import DATABASE_ID_KEY, read_database_id
from app.infrastructure.db.interactions import PostgresInteractions, SqliteInteractions
from app.infrastructure.db.orm import SCHEMA_REVISION
from app.infrastructure.db.postgres import PostgresPool, Silences, asyncpg_dsn
from app.infrastructure.db.posts import PostgresPosts, SqlitePosts
from app.infrastructure.db.served_lists import PostgresServedLists, SqliteServedLists
from app.infrastructure.db.sqlite import SqliteDatabase
from app.infrastructure.db.stored_lists import PostgresStoredLists, SqliteStoredLists
from app.infrastructure.db.users import PostgresUsers, SqliteUsers
from app.shared.exceptions import StorageUnavailable

_REVISION = "SELECT version_num FROM alembic_version"
_READ_ID = "SELECT value FROM service_meta WHERE key = $1"
_WRITE_ID = "INSERT INTO service_meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_NO_META = (
    "the database has no service_meta table (its schema predates migration 0004, or it was never"
    " migrated): run `uv run ml-service migrate`"
)


def _no_schema(revision: str | None) -> str:
    found = f"is at revision {revision}" if revision else "has no schema"
    return f"the database {found}; this service needs {SCHEMA_REVISION}: run `uv run ml-service migrate`"


def _check_revision(revision: str | None) -> None:
    if revision != SCHEMA_REVISION:
        raise StorageUnavailable(_no_schema(revision))


@dataclass(frozen=True)
class DatabaseTimeouts:
    """The bounds of every database call; a call ends within statement_ms plus half a second."""

    connect_seconds: float = 2.0
    statement_ms: int = 2000
    pool_size: int = 4


class PostgresStores:
    """Feed reads and writes (tracked batches, stored lists) each have a pool: a burst of
    batches never makes a feed page wait for a connection. Health probes have a connection of
    their own, so a probe never waits behind requests."""

    def __init__(self, dsn: str, timeouts: DatabaseTimeouts) -> None:
        # A call that got no answer in time makes the idle connections of every pool suspect.
        silences = Silences()

        def pool(size: int) -> PostgresPool:
            return PostgresPool(
                dsn,
                pool_size=size,
                connect_timeout_seconds=timeouts.connect_seconds,
                statement_timeout_ms=timeouts.statement_ms,
                silences=silences,
            )

        self._reads, self._writes, self._probes = pool(timeouts.pool_size), pool(timeouts.pool_size), pool(1)
        self.users: UserRepository = PostgresUsers(self._writes)
        self.posts: PostRepository = PostgresPosts(self._reads, self._writes)
        self.interactions: InteractionRepository = PostgresInteractions(self._reads, self._writes)
        self.lists: StoredListRepository = PostgresStoredLists(self._reads, self._writes)
        self.served: ServedListRepository = PostgresServedLists(self._reads, self._writes)

    async def open(self) -> None:
        for pool in (self._reads, self._writes, self._probes):
            await pool.open()

    async def close(self) -> None:
        await asyncio.gather(self._reads.close(), self._writes.close(), self._probes.close())

    async def ping(self) -> None:
        """Returns when the database answers, on the probes' own connection, with the schema this
        code needs."""
        try:
            rows = await self._probes.fetch(_REVISION)
        except StorageUnavailable as error:
            if "alembic_version" in str(error):
                raise StorageUnavailable(_no_schema(None)) from error
            raise
        _check_revision(rows[0][0] if rows else None)

    async def database_id(self) -> str:
        """The id in `service_meta`, written once (a new UUID) by whichever process comes first."""
        try:
            rows = await self._reads.fetch(_READ_ID, DATABASE_ID_KEY)
            if not rows:
                await self._writes.fetch(_WRITE_ID, DATABASE_ID_KEY, str(uuid.uuid4()))
                rows = await self._reads.fetch(_READ_ID, DATABASE_ID_KEY)
        except StorageUnavailable as error:
            if "service_meta" in str(error) and "does not exist" in str(error):
                raise StorageUnavailable(_NO_META) from error
            raise
        return str(rows[0][0])


class SqliteStores:
    def __init__(self, database_url: str, timeouts: DatabaseTimeouts) -> None:
        engine = build_engine(database_url, connect_timeout_seconds=timeouts.connect_seconds)
        self._db = SqliteDatabase(engine)
        self.users: UserRepository = SqliteUsers(self._db)
        self.posts: PostRepository = SqlitePosts(self._db)
        self.interactions: InteractionRepository = SqliteInteractions(self._db)
        self.lists: StoredListRepository = SqliteStoredLists(self._db)
        self.served: ServedListRepository = SqliteServedLists(self._db)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._db.engine.dispose()

    async def ping(self) -> None:
        """Returns when the database answers with the schema this code needs."""
        try:
            revision = await self._db.run(lambda conn: conn.execute(text(_REVISION)).scalar())
        except StorageUnavailable as error:
            if "alembic_version" in str(error):
                raise StorageUnavailable(_no_schema(None)) from error
            raise
        _check_revision(revision)

    async def database_id(self) -> str:
        return await to_thread.run_sync(read_database_id, self._db.engine)


Stores = PostgresStores | SqliteStores


def open_stores(database_url: str, timeouts: DatabaseTimeouts | None = None) -> Stores:
    """The repositories for `database_url`; call `open()` in the event loop that will use them."""
    timeouts = timeouts or DatabaseTimeouts()
    dsn = asyncpg_dsn(database_url)
    return PostgresStores(dsn, timeouts) if dsn else SqliteStores(database_url, timeouts)


@asynccontextmanager
async def connected(database_url: str, timeouts: DatabaseTimeouts | None = None) -> AsyncIterator[Stores]:
    """Open repositories for a batch job or a test, closed when the block ends."""
    stores = open_stores(database_url, timeouts)
    await stores.open()
    try:
        yield stores
    finally:
        await stores.close()
