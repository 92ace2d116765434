"""The database work awaited on the event loop (asyncpg) against a real PostgreSQL: the read of a
kept list's state and the writes of a tracked batch."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text

from app.application.ports import KeptListState
from app.bootstrap import build_container
from app.domain.entities import Interaction, InteractionType, Reason, Recommendation
from app.infrastructure.config import ModelSettings, Settings
from app.infrastructure.db.engine import build_engine, normalise_url
from app.infrastructure.db.event_loop import (
    AsyncpgInteractionWrites,
    AsyncpgKeptListReads,
    AsyncpgPool,
    asyncpg_dsn,
)
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork
from app.shared.exceptions import StorageUnavailable
from tests.builders import make_interaction, make_post, make_user
from tests.conftest import create_database

pytestmark = pytest.mark.postgres

T = TypeVar("T")
NOW = datetime.now(UTC).replace(microsecond=0)
GENERATED = NOW - timedelta(minutes=1)
EXPIRES = NOW + timedelta(hours=1)


def run_with(dsn: str, use: Callable[[AsyncpgPool], Awaitable[T]], timeout: float = 3.0) -> T:
    """Opens a pool in a fresh event loop, runs `use` with it and closes it."""

    async def main() -> T:
        pool = AsyncpgPool(dsn, pool_size=2, connect_timeout_seconds=timeout, statement_timeout_ms=2000)
        await pool.open()
        try:
            return await use(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this module's own: its rows are committed (asyncpg reads through other
    connections), and one test terminates every other backend of its database."""
    with create_database(postgres_admin_url, f"ml_test_async_{uuid.uuid4().hex[:8]}") as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="module")
def dsn(database_url: str) -> str:
    """The module database's URL as asyncpg reads it."""
    value = asyncpg_dsn(database_url)
    assert value is not None
    return value


@pytest.fixture
def history(database_url: str) -> dict[str, list[uuid.UUID]]:
    """A reader who saw two of four posts (one twice) and has a list stored for model "v1" at
    GENERATED, committed so another driver can read it."""
    reader, author = make_user(), make_user()
    posts = [make_post(author_id=author.id) for _ in range(4)]
    views = [make_interaction(user_id=reader.id, post_id=p.id) for p in (posts[0], posts[2], posts[2])]
    listed = [Recommendation(p.id, 0.5, Reason.COLLABORATIVE_FILTERING) for p in posts]
    engine = build_engine(database_url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.users.add_many([reader, author])
        uow.posts.add_many(posts)
        uow.interactions.add_many(views)
        uow.recommendations.replace_for_user(
            reader.id, listed, model_version="v1", generated_at=GENERATED, expires_at=EXPIRES
        )
        uow.commit()
    engine.dispose()
    return {"reader": [reader.id], "author": [author.id], "posts": [p.id for p in posts]}


async def seen_among(pool: AsyncpgPool, user: uuid.UUID, posts: list[uuid.UUID]) -> set[uuid.UUID]:
    return (await AsyncpgKeptListReads(pool).state(user, "v1", NOW, posts)).seen


def test_the_state_is_the_seen_candidates_and_when_the_fresh_stored_list_was_made(
    dsn: str, history: dict[str, list[uuid.UUID]]
) -> None:
    reader, author, posts = history["reader"][0], history["author"][0], history["posts"]

    async def ask(pool: AsyncpgPool) -> list[KeptListState]:
        reads = AsyncpgKeptListReads(pool)
        return [
            await reads.state(reader, "v1", NOW, posts),
            await reads.state(reader, "v1", NOW, posts[1:2]),
            await reads.state(reader, "v2", NOW, posts),  # no list for another model
            await reads.state(reader, "v1", EXPIRES, posts),  # nor once it expired
            await reads.state(author, "v1", NOW, posts),
        ]

    assert run_with(dsn, ask) == [
        KeptListState({posts[0], posts[2]}, GENERATED),
        KeptListState(set(), GENERATED),
        KeptListState({posts[0], posts[2]}, None),
        KeptListState({posts[0], posts[2]}, None),
        KeptListState(set(), None),
    ]


def test_a_connection_the_server_closed_is_replaced_without_an_error(
    dsn: str, database_url: str, history: dict[str, list[uuid.UUID]]
) -> None:
    reader, posts = history["reader"][0], history["posts"]
    admin = create_engine(normalise_url(database_url), isolation_level="AUTOCOMMIT")

    def terminate_other_backends() -> None:
        others = text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with admin.connect() as conn:
            for pid in conn.scalars(others):
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            while conn.scalars(others).all():
                time.sleep(0.01)

    async def ask_across_a_termination(seen: AsyncpgPool) -> list[set[uuid.UUID]]:
        first = await seen_among(seen, reader, posts)
        # Called without yielding to the event loop, so the pool cannot notice the closed
        # connection before the next statement is sent on it.
        terminate_other_backends()
        return [first, await seen_among(seen, reader, posts)]

    try:
        first, after = run_with(dsn, ask_across_a_termination)
    finally:
        admin.dispose()
    assert first == after == {posts[0], posts[2]}


async def _track_one(pool: AsyncpgPool) -> object:
    return await AsyncpgInteractionWrites(pool).add_many([make_interaction()])


@pytest.mark.parametrize(
    "ask",
    [lambda pool: seen_among(pool, uuid.uuid4(), [uuid.uuid4()]), _track_one],
    ids=["kept-list read", "tracking write"],
)
def test_a_database_that_is_not_there_is_storage_unavailable_within_the_timeout(
    ask: Callable[[AsyncpgPool], Awaitable[object]],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="database unavailable"):
        run_with(
            f"postgresql://postgres@127.0.0.1:{port}/nowhere",
            ask,
            timeout=1.0,
        )
    assert time.monotonic() - started < 5


def test_only_postgresql_urls_get_an_asyncpg_dsn() -> None:
    assert asyncpg_dsn("sqlite:///data/app.db") is None
    assert asyncpg_dsn("postgresql+psycopg2://u:p@db:5432/app") == "postgresql://u:p@db:5432/app"
    assert asyncpg_dsn("postgres://u@db/app") == "postgresql://u@db/app"


def test_requests_take_turns_for_connections_in_arrival_order(
    dsn: str, history: dict[str, list[uuid.UUID]]
) -> None:
    """32 callers asking in a loop through two connections all make progress together.

    When the first caller is through its 20 questions, each other caller lags it by one, or two
    when a backend was slow. Without the turns, a caller woken for a released connection lost it
    to a newcomer and queued again from the back: the typical lag was 3 to 10. A slow backend can
    still hold one caller back in one race, so the test takes the median over five races.
    """
    reader, posts = history["reader"][0], history["posts"]
    callers, questions = 32, 20

    async def race(seen: AsyncpgPool) -> int:
        done = [0] * callers

        async def caller(index: int) -> None:
            for _ in range(questions):
                await seen_among(seen, reader, posts)
                done[index] += 1

        tasks = [asyncio.create_task(caller(i)) for i in range(callers)]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        lag = questions - min(done)  # when the first caller is through
        await asyncio.gather(*tasks)
        return lag

    async def races(seen: AsyncpgPool) -> list[int]:
        return [await race(seen) for _ in range(5)]

    lags = run_with(dsn, races)

    assert statistics.median(lags) <= 2, lags


@pytest.fixture
def people(database_url: str) -> dict[str, list[uuid.UUID]]:
    """Two users and two posts, committed."""
    users, author = [make_user(), make_user()], make_user()
    posts = [make_post(author_id=author.id) for _ in range(2)]
    engine = build_engine(database_url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.users.add_many([*users, author])
        uow.posts.add_many(posts)
        uow.commit()
    engine.dispose()
    return {"users": [u.id for u in users], "posts": [p.id for p in posts]}


def stored_for(database_url: str, user_id: uuid.UUID) -> list[Interaction]:
    engine = build_engine(database_url)
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            return uow.interactions.for_user(user_id)
    finally:
        engine.dispose()


def write(dsn: str, *batches: list[Interaction]) -> list[set[uuid.UUID]]:
    async def add(pool: AsyncpgPool) -> list[set[uuid.UUID]]:
        writes = AsyncpgInteractionWrites(pool)
        return [await writes.add_many(batch) for batch in batches]

    return run_with(dsn, add)


def test_a_batch_is_stored_with_every_column(
    dsn: str, database_url: str, people: dict[str, list[uuid.UUID]]
) -> None:
    user, (first, second) = people["users"][0], people["posts"]
    batch = [
        make_interaction(user_id=user, post_id=first, created_at=GENERATED),
        make_interaction(
            user_id=user,
            post_id=second,
            kind=InteractionType.LIKE,
            created_at=NOW,
            metadata={"dwell_time_ms": 1200, "source": "feed", "nested": {"ok": [1, 2.5, None]}},
            event_id=f"evt-{uuid.uuid4()}",
        ),
    ]

    assert write(dsn, batch) == [{i.id for i in batch}]
    assert stored_for(database_url, user) == batch


def test_unknown_users_and_posts_are_skipped_and_the_rest_of_the_batch_stored(
    dsn: str, database_url: str, people: dict[str, list[uuid.UUID]]
) -> None:
    """The foreign keys refuse the whole statement; the batch is then stored without those."""
    (user, other), (post, _) = people["users"], people["posts"]
    known = [make_interaction(user_id=user, post_id=post), make_interaction(user_id=other, post_id=post)]
    unknown = [make_interaction(user_id=uuid.uuid4(), post_id=post), make_interaction(user_id=user)]

    assert write(dsn, [unknown[0], known[0], unknown[1], known[1]]) == [{i.id for i in known}]
    assert stored_for(database_url, user) == known[:1]
    assert stored_for(database_url, other) == known[1:]


def test_an_event_id_is_stored_once_within_a_batch_and_across_batches(
    dsn: str, database_url: str, people: dict[str, list[uuid.UUID]]
) -> None:
    user, (post, _) = people["users"][0], people["posts"]
    event = f"evt-{uuid.uuid4()}"
    first, repeat, retry = (make_interaction(user_id=user, post_id=post, event_id=event) for _ in range(3))

    assert write(dsn, [first, repeat], [retry]) == [{first.id}, set()]
    assert stored_for(database_url, user) == [first]


def test_a_batch_sent_again_is_not_stored_twice(
    dsn: str, database_url: str, people: dict[str, list[uuid.UUID]]
) -> None:
    """What a retry after a lost connection does: the ids are the caller's, so nothing doubles."""
    user, posts = people["users"][0], people["posts"]
    batch = [make_interaction(user_id=user, post_id=p) for p in posts]

    assert write(dsn, batch, batch) == [{i.id for i in batch}, set()]
    assert len(stored_for(database_url, user)) == 2


def test_existing_names_the_users_and_posts_that_exist(dsn: str, people: dict[str, list[uuid.UUID]]) -> None:
    users, posts = people["users"], people["posts"]
    stranger, ghost = uuid.uuid4(), uuid.uuid4()

    async def ask(pool: AsyncpgPool) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        return await AsyncpgInteractionWrites(pool).existing([*users, stranger, users[0]], [ghost, *posts])

    assert run_with(dsn, ask) == (set(users), set(posts))


def test_tracking_writes_never_take_the_connections_feed_reads_wait_for(
    database_url: str, history: dict[str, list[uuid.UUID]], tmp_path: Path
) -> None:
    """Every tracking connection is busy for a second; a cached page's read still answers at once."""
    settings = Settings(database_url=database_url, model=ModelSettings(models_dir=tmp_path))
    container = build_container(settings)
    reads_pool, writes_pool = container.event_loop_pools
    reader, posts = history["reader"][0], history["posts"]

    async def read_while_writes_are_busy() -> float:
        await container.open_event_loop_pools()
        try:
            busy = [
                asyncio.create_task(writes_pool.fetch("SELECT pg_sleep(1)"))
                for _ in range(settings.db_async_pool_size)
            ]
            await asyncio.sleep(0.2)  # every write connection is taken
            started = time.monotonic()
            assert await seen_among(reads_pool, reader, posts) == {posts[0], posts[2]}
            waited = time.monotonic() - started
            await asyncio.gather(*busy)
            return waited
        finally:
            await container.close_event_loop_pools()

    try:
        assert asyncio.run(read_while_writes_are_busy()) < 0.5
    finally:
        container.close()


def test_after_a_caller_gives_up_on_a_statement_the_next_one_is_answered_at_once(dsn: str) -> None:
    """The given-up statement's connection is not handed to the next caller while the server is
    still running the statement."""

    async def give_up_then_ask(pool: AsyncpgPool) -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.fetch("SELECT pg_sleep(2)"), timeout=0.2)
        started = time.monotonic()
        assert [tuple(row) for row in await pool.fetch("SELECT 1")] == [(1,)]
        return time.monotonic() - started

    assert run_with(dsn, give_up_then_ask) < 1.0


def test_a_closed_pool_answers_nothing_and_keeps_no_connection_open(dsn: str, database_url: str) -> None:
    admin = create_engine(normalise_url(database_url), isolation_level="AUTOCOMMIT")
    others = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def backends() -> int:
        with admin.connect() as conn:
            return int(conn.scalar(others) or 0)

    async def use_two_connections_then_close(pool: AsyncpgPool) -> int:
        await asyncio.gather(pool.fetch("SELECT pg_sleep(0.1)"), pool.fetch("SELECT pg_sleep(0.1)"))
        during = backends()
        await pool.close()
        with pytest.raises(StorageUnavailable, match="not open"):
            await pool.fetch("SELECT 1")
        return during

    try:
        before = backends()
        during = run_with(dsn, use_two_connections_then_close)
        deadline = time.monotonic() + 5
        while backends() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (during, backends()) == (before + 2, before)
    finally:
        admin.dispose()
