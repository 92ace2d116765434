"""PostgresPool against a real PostgreSQL: lost connections, refused values, bounded waits, a silent
database, dead peers, turns, and closing. The adapters over it: test_postgres_stores.py."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.domain.entities import Reason, StoredList
from app.domain.ports import ListCheck
from app.infrastructure.db.engine import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE_SECONDS,
    KEEPALIVE_INTERVAL_SECONDS,
    TCP_USER_TIMEOUT_MS,
    build_engine,
    normalise_url,
)
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.postgres import PostgresPool, Silences, asyncpg_dsn
from app.infrastructure.db.stored_lists import PostgresStoredLists
from app.infrastructure.db.stores import connected
from app.shared.exceptions import InvalidInput, StorageUnavailable
from tests.builders import make_interaction, make_post, make_user, ranked
from tests.conftest import create_database
from tests.e2e.proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

NOW = datetime.now(UTC).replace(microsecond=0)
GENERATED = NOW - timedelta(minutes=1)
EXPIRES = NOW + timedelta(hours=1)
OTHER_BACKENDS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="module")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this module's own: tests here terminate every other backend of it."""
    with create_database(postgres_admin_url, f"ml_test_pool_{uuid.uuid4().hex[:8]}") as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="module")
def dsn(database_url: str) -> str:
    value = asyncpg_dsn(database_url)
    assert value is not None
    return value


@pytest.fixture(scope="module")
def admin(database_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(database_url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def terminate_other_backends(admin: Engine) -> int:
    """Closes every other connection to the database from the server side; waits until they are gone.

    Called without yielding to the event loop, so a pool cannot notice the closed connections
    before its next statement is sent on one."""
    with admin.connect() as conn:
        pids = list(conn.scalars(OTHER_BACKENDS))
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        while conn.scalars(OTHER_BACKENDS).all():
            time.sleep(0.01)
    return len(pids)


def backends(admin: Engine) -> int:
    with admin.connect() as conn:
        return len(conn.scalars(OTHER_BACKENDS).all())


async def backends_once_settled(admin: Engine) -> int:
    """How many other connections the database has, once none is still closing (within 5 s)."""
    deadline = time.monotonic() + 5
    while (count := backends(admin)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return count


@asynccontextmanager
async def opened(
    dsn: str, *, pool_size: int = 2, connect_seconds: float = 3.0, statement_ms: int = 2000
) -> AsyncIterator[PostgresPool]:
    pool = PostgresPool(
        dsn, pool_size=pool_size, connect_timeout_seconds=connect_seconds, statement_timeout_ms=statement_ms
    )
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def history(database_url: str) -> dict[str, list[uuid.UUID]]:
    """A reader who saw two of four posts (one twice) and has a list stored for "v1" at GENERATED."""
    reader, author = make_user(), make_user()
    posts = [make_post(author_id=author.id) for _ in range(4)]
    listed = ranked((p.id for p in posts), reason=Reason.COLLABORATIVE_FILTERING)
    async with connected(database_url) as stores:
        await stores.users.add_many([reader, author])
        await stores.posts.add_many(posts)
        await stores.interactions.add_many(
            [make_interaction(user_id=reader.id, post_id=p.id) for p in (posts[0], posts[2], posts[2])]
        )
        await stores.lists.store([StoredList(reader.id, "v1", GENERATED, EXPIRES, listed)])
    return {"reader": [reader.id], "posts": [p.id for p in posts]}


async def check(pool: PostgresPool, history: dict[str, list[uuid.UUID]]) -> ListCheck:
    return await PostgresStoredLists(pool, pool).check(
        history["reader"][0], "v1", NOW, ranked(history["posts"])
    )


def seen(history: dict[str, list[uuid.UUID]]) -> ListCheck:
    posts = history["posts"]
    return ListCheck({posts[0], posts[2]}, GENERATED, set(), True)


def test_only_postgresql_urls_get_an_asyncpg_dsn() -> None:
    assert asyncpg_dsn("sqlite:///data/app.db") is None
    assert asyncpg_dsn("postgresql+psycopg2://u:p@db:5432/app") == "postgresql://u:p@db:5432/app"
    assert asyncpg_dsn("postgres://u@db/app") == "postgresql://u@db/app"


# --- lost connections ----------------------------------------------------------------------------


@pytest.mark.parametrize("pause", [None, 0, 0.001, 0.003, 0.01, 0.1])
async def test_a_connection_the_server_closed_is_replaced_without_an_error(
    dsn: str, admin: Engine, history: dict[str, list[uuid.UUID]], pause: float | None
) -> None:
    """Right after the close the pool cannot know of it, and the statement fails and is retried;
    shortly after, the connection has read the server's goodbye without noticing the close
    (asyncpg fails with an InternalClientError); later it knows it is closed."""
    async with opened(dsn) as pool:
        first = await check(pool, history)
        assert terminate_other_backends(admin) == 1
        if pause is not None:
            await asyncio.sleep(pause)
        assert await check(pool, history) == first == seen(history)


async def test_after_a_restart_every_caller_is_answered_on_a_new_connection(
    dsn: str, admin: Engine, history: dict[str, list[uuid.UUID]]
) -> None:
    """Every idle connection is closed at once: a retry on another idle one would fail too."""
    async with opened(dsn) as pool:
        await asyncio.gather(pool.fetch("SELECT pg_sleep(0.05)"), pool.fetch("SELECT pg_sleep(0.05)"))
        assert terminate_other_backends(admin) == 2
        assert [await check(pool, history) for _ in range(3)] == [seen(history)] * 3


async def test_a_statement_is_sent_once_more_only(dsn: str, admin: Engine) -> None:
    """A statement that loses its connection every time fails after its one retry."""
    sequence = f"attempts_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SEQUENCE {sequence}"))
    try:
        async with opened(dsn) as pool:
            with pytest.raises(StorageUnavailable, match="database unavailable"):
                await pool.fetch(
                    "SELECT pg_terminate_backend(pg_backend_pid()) FROM (SELECT nextval($1::regclass)) AS s",
                    sequence,
                )
            assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]
        with admin.connect() as conn:
            assert conn.scalar(text(f"SELECT last_value FROM {sequence}")) == 2
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SEQUENCE {sequence}"))


async def test_a_transaction_on_a_lost_connection_is_not_retried(
    dsn: str, admin: Engine, history: dict[str, list[uuid.UUID]]
) -> None:
    async with opened(dsn) as pool:
        await pool.fetch("SELECT 1")
        terminate_other_backends(admin)
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            async with pool.transaction() as conn:
                await conn.execute("SELECT 1")
        assert await check(pool, history) == seen(history)


# --- refused values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "value"),
    [("SELECT $1::int", 2**40), ("SELECT $1::uuid", "not a uuid"), ("SELECT 1 / $1::int", 0)],
    ids=["refused-by-asyncpg", "wrong-type", "refused-by-the-server"],
)
async def test_a_refused_value_is_invalid_input_and_the_connection_is_kept(
    dsn: str, sql: str, value: object
) -> None:
    async with opened(dsn, pool_size=1) as pool:
        (before,) = await pool.fetch("SELECT pg_backend_pid()")
        with pytest.raises(InvalidInput, match="refused"):
            await pool.fetch(sql, value)
        assert await pool.fetch("SELECT pg_backend_pid()") == [before]


async def insert_then_fail(pool: PostgresPool, insert: str, key: str) -> None:
    async with pool.transaction() as conn:
        await conn.execute(insert, key)
        raise RuntimeError("the caller's own error")


async def test_a_transaction_commits_when_its_block_ends_and_rolls_back_on_an_error(dsn: str) -> None:
    key, other = f"k-{uuid.uuid4()}", f"k-{uuid.uuid4()}"
    insert = "INSERT INTO service_meta (key, value) VALUES ($1, 'x')"
    async with opened(dsn) as pool:
        async with pool.transaction() as conn:
            await conn.execute(insert, key)
        with pytest.raises(RuntimeError, match="the caller's own error"):
            await insert_then_fail(pool, insert, other)
        found = await pool.fetch("SELECT key FROM service_meta WHERE key = ANY($1::text[])", [key, other])
        await pool.fetch("DELETE FROM service_meta WHERE key = $1", key)
    assert [row[0] for row in found] == [key]


async def test_a_delete_in_batches_removes_every_matching_row_call_by_call(dsn: str) -> None:
    prefix = f"batch-{uuid.uuid4().hex[:8]}-"
    delete = (
        "WITH gone AS (DELETE FROM service_meta WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM service_meta WHERE key LIKE $1 LIMIT $2)) RETURNING 1) SELECT count(*) FROM gone"
    )
    async with opened(dsn) as pool:
        keys = [f"{prefix}{i}" for i in range(10)]
        await pool.fetch("INSERT INTO service_meta (key, value) SELECT unnest($1::text[]), 'x'", keys)
        assert await pool.delete_in_batches(delete, prefix + "%", batch=3) == 10
        assert await pool.fetch("SELECT key FROM service_meta WHERE key LIKE $1", prefix + "%") == []


# --- bounded waits ---------------------------------------------------------------------------------


async def test_a_statement_the_server_times_out_is_storage_unavailable_and_the_pool_goes_on(dsn: str) -> None:
    async with opened(dsn, pool_size=1, statement_ms=200) as pool:
        assert pool.statement_timeout == pytest.approx(0.7)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="QueryCanceledError"):
            await pool.fetch("SELECT pg_sleep(3)")
        assert time.monotonic() - started < 1.5
        assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]


async def test_after_a_caller_gives_up_on_a_statement_the_next_one_is_answered_at_once(dsn: str) -> None:
    """The given-up statement's connection is not handed to the next caller while the server is
    still running the statement."""
    async with opened(dsn, pool_size=1) as pool:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.fetch("SELECT pg_sleep(2)"), timeout=0.2)
        started = time.monotonic()
        assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]
        assert time.monotonic() - started < 1.0


async def bounded(call: Awaitable[object], bound: float) -> str:
    """The StorageUnavailable `call` raises, which it must within `bound` seconds."""
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as raised:
        await asyncio.wait_for(call, timeout=bound + 5)
    assert time.monotonic() - started < bound, str(raised.value)
    return str(raised.value)


async def hold_a_connection(pool: PostgresPool, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds + 1
    async with pool.connection(deadline=deadline):
        await asyncio.sleep(seconds)


async def test_a_caller_waits_for_a_turn_no_longer_than_its_call_may_take(dsn: str) -> None:
    async with opened(dsn, pool_size=1, statement_ms=300) as pool:
        busy = asyncio.create_task(hold_a_connection(pool, 1.5))
        await asyncio.sleep(0.1)
        assert "no connection free within 0.8 s" in await bounded(pool.fetch("SELECT 1"), 1.2)
        await busy


async def sleep_without_a_limit(pool: PostgresPool, seconds: float) -> None:
    async with pool.transaction() as conn:
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_sleep($1)", seconds)


async def test_a_statement_the_server_lets_run_is_bounded_by_the_client(dsn: str, admin: Engine) -> None:
    """Even a statement sent without a timeout (here in a transaction that lifted the server's
    limit) ends within the call's bound; its connection, still busy on the server, is not reused."""
    async with opened(dsn, pool_size=1, statement_ms=300) as pool:
        try:
            assert "no answer within 0.8 s" in await bounded(sleep_without_a_limit(pool, 10), 1.3)
            started = time.monotonic()
            assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]
            assert time.monotonic() - started < 0.5
        finally:
            terminate_other_backends(admin)  # the server notices the closed connection only after the sleep


# --- a silent database: connections accepted, nothing answered --------------------------------


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432).open()
    yield tcp
    tcp.close()


@pytest.fixture
def proxied_dsn(dsn: str, proxy: TcpProxy) -> str:
    return str(make_url(dsn).set(host="127.0.0.1", port=proxy.port))


async def read_in_a_transaction(pool: PostgresPool) -> None:
    async with pool.transaction() as conn:
        await conn.fetch("SELECT 1")


async def test_a_silent_database_is_storage_unavailable_within_the_bounds_of_every_call(
    proxied_dsn: str, proxy: TcpProxy
) -> None:
    async with opened(proxied_dsn, pool_size=2, connect_seconds=0.5, statement_ms=500) as pool:
        await asyncio.gather(pool.fetch("SELECT pg_sleep(0.05)"), pool.fetch("SELECT pg_sleep(0.05)"))
        proxy.silence()
        # On the idle connections, then (none left to reuse) on new ones.
        assert "no answer within 1 s" in await bounded(pool.fetch("SELECT 1"), 1.3)
        assert "no answer within 1 s" in await bounded(read_in_a_transaction(pool), 1.3)
        await bounded(pool.fetch("SELECT 1"), 0.8)
        await bounded(read_in_a_transaction(pool), 0.8)
        # Callers beyond the pool's size wait for a turn within the same bound.
        for outcome in await asyncio.gather(*(bounded(pool.fetch("SELECT 1"), 1.3) for _ in range(5))):
            assert "database" in outcome


async def test_once_the_database_answers_again_no_connection_from_before_is_reused(
    proxied_dsn: str, proxy: TcpProxy
) -> None:
    """A connection idle while the database went silent stays silent here, as one whose path was
    lost does; once one call got no answer, no idle connection of any pool sharing the count is
    trusted."""
    silences = Silences()
    reads, writes = (
        PostgresPool(
            proxied_dsn, pool_size=2, connect_timeout_seconds=0.5, statement_timeout_ms=500, silences=silences
        )
        for _ in range(2)
    )
    for pool in (reads, writes):
        await pool.open()
        await asyncio.gather(pool.fetch("SELECT pg_sleep(0.05)"), pool.fetch("SELECT pg_sleep(0.05)"))
    try:
        proxy.silence()
        await bounded(reads.fetch("SELECT 1"), 1.3)
        proxy.forward()
        started = time.monotonic()
        for pool in (reads, writes):
            for _ in range(3):
                assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]
        assert time.monotonic() - started < 1.0
    finally:
        await asyncio.gather(reads.close(), writes.close())


# --- dead peers --------------------------------------------------------------------------------------

KEPT_ALIVE = {
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE): 1,
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE): KEEPALIVE_IDLE_SECONDS,
    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL): KEEPALIVE_INTERVAL_SECONDS,
    (socket.IPPROTO_TCP, socket.TCP_KEEPCNT): KEEPALIVE_COUNT,
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT): TCP_USER_TIMEOUT_MS,
}


def options(sock: Any) -> dict[tuple[int, int], int]:
    return {key: sock.getsockopt(*key) for key in KEPT_ALIVE}


async def test_every_connection_finds_a_dead_peer_by_itself(dsn: str, database_url: str) -> None:
    """TCP keepalives and a user timeout on the pool's connections and on the batch jobs' engine."""
    async with opened(dsn) as pool, pool.connection() as conn:
        transport: Any = conn._transport  # type: ignore[attr-defined]  # asyncpg keeps it private
        assert options(transport.get_extra_info("socket")) == KEPT_ALIVE
    engine = build_engine(database_url)
    try:
        raw = engine.raw_connection()
        try:
            assert raw.driver_connection is not None
            with socket.socket(fileno=os.dup(raw.driver_connection.fileno())) as sock:
                assert options(sock) == KEPT_ALIVE
        finally:
            raw.close()
    finally:
        engine.dispose()


async def test_requests_take_turns_for_connections_in_arrival_order(
    dsn: str, history: dict[str, list[uuid.UUID]]
) -> None:
    """32 callers asking in a loop through two connections all make progress together.

    When the first caller is through its 20 questions, each other caller lags it by one, or two
    when a backend was slow. Without the turns, a caller woken for a released connection lost it
    to a newcomer and queued again from the back: the typical lag was 3 to 10. A slow backend can
    still hold one caller back in one race, so the test takes the median over five races.
    """
    callers, questions = 32, 20

    async def race(pool: PostgresPool) -> int:
        done = [0] * callers

        async def caller(index: int) -> None:
            for _ in range(questions):
                await check(pool, history)
                done[index] += 1

        tasks = [asyncio.create_task(caller(i)) for i in range(callers)]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        lag = questions - min(done)  # when the first caller is through
        await asyncio.gather(*tasks)
        return lag

    async with opened(dsn) as pool:
        lags = [await race(pool) for _ in range(5)]
    assert statistics.median(lags) <= 2, lags


# --- pools: open and closed -------------------------------------------------------


async def test_a_pool_that_is_not_open_says_so(dsn: str) -> None:
    pool = PostgresPool(dsn, pool_size=1, connect_timeout_seconds=1, statement_timeout_ms=1000)
    with pytest.raises(StorageUnavailable, match="not open"):
        await pool.fetch("SELECT 1")
    with pytest.raises(StorageUnavailable, match="not open"):
        async with pool.transaction():
            pass


async def test_a_closed_pool_answers_nothing_and_keeps_no_connection_open(dsn: str, admin: Engine) -> None:
    assert await backends_once_settled(admin) == 0
    async with opened(dsn) as pool:
        await asyncio.gather(pool.fetch("SELECT pg_sleep(0.1)"), pool.fetch("SELECT pg_sleep(0.1)"))
        during = backends(admin)
        await pool.close()
        with pytest.raises(StorageUnavailable, match="not open"):
            await pool.fetch("SELECT 1")
    assert (during, await backends_once_settled(admin)) == (2, 0)


async def test_a_connection_in_use_when_the_pool_closes_is_closed_when_its_statement_is_done(
    dsn: str, admin: Engine
) -> None:
    assert await backends_once_settled(admin) == 0
    async with opened(dsn) as pool:
        busy = asyncio.create_task(pool.fetch("SELECT pg_sleep(0.3)"))
        await asyncio.sleep(0.1)
        await pool.close()
        assert backends(admin) == 1
        assert len(await busy) == 1
    assert await backends_once_settled(admin) == 0
