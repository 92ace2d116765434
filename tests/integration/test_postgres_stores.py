"""The PostgreSQL adapters over their pools: values the schema refuses, a batch stored all or
nothing, a database that is not there, and the two pools of one worker."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from app.domain.entities import StoredList
from app.domain.ports import ListCheck
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.postgres import MissingReference
from app.infrastructure.db.stores import DatabaseTimeouts, Stores, connected
from app.shared.exceptions import InvalidInput, StorageUnavailable
from tests.builders import make_interaction, make_post, make_user, ranked
from tests.integration.conftest import Database, seed

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

NOW = datetime.now(UTC).replace(microsecond=0)
GENERATED = NOW - timedelta(minutes=1)
EXPIRES = NOW + timedelta(hours=1)


@pytest.fixture
async def stores(postgres_database: Database) -> AsyncIterator[Stores]:
    """Two connections in each pool."""
    async with connected(postgres_database.url, DatabaseTimeouts(pool_size=2)) as opened:
        yield opened


async def test_values_the_schema_refuses_are_invalid_input(stores: Stores) -> None:
    with pytest.raises(InvalidInput):
        await stores.users.add_many([make_user(username="x" * 65)])
    with pytest.raises(InvalidInput):
        await stores.users.add_many([make_user(follower_count=2**40)])
    with pytest.raises(MissingReference):
        await stores.posts.add_many([make_post()])  # by an author nobody stored
    await stores.ping()


async def test_lists_stored_together_are_stored_all_or_nothing(stores: Stores) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    items = ranked([uuid.uuid4()])
    kept = StoredList(user, "v1", GENERATED, EXPIRES, items)
    await stores.lists.store([kept])
    replacement = StoredList(user, "v2", NOW, EXPIRES, items)
    refused = StoredList(other, "v" * 65, NOW, EXPIRES, items)  # longer than the column
    with pytest.raises(InvalidInput):
        await stores.lists.store([replacement, refused])
    assert await stores.lists.read(user, "v1", NOW) == kept


async def test_a_database_that_is_not_there_is_storage_unavailable_within_the_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    url = f"postgresql://postgres@127.0.0.1:{port}/nowhere"
    started = time.monotonic()
    async with connected(url, DatabaseTimeouts(connect_seconds=1.0)) as stores:
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await stores.lists.check(uuid.uuid4(), "v1", NOW, ranked([uuid.uuid4()]))
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await stores.interactions.add_many([make_interaction()])
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await stores.ping()
    assert time.monotonic() - started < 5


async def test_tracked_batches_never_take_the_connections_feed_reads_wait_for(
    stores: Stores, postgres_database: Database
) -> None:
    """Every write connection waits on a lock for a second; a feed page's read answers at once."""
    world = await seed(stores)
    reader, posts = world.reader.id, [p.id for p in world.posts]
    await stores.interactions.add_many([make_interaction(user_id=reader, post_id=posts[0])])
    listed = ranked(posts)
    await stores.lists.store([StoredList(reader, "v1", GENERATED, EXPIRES, listed)])
    locker = create_engine(normalise_url(postgres_database.url))
    try:
        with locker.connect() as conn:
            blocker = conn.begin()
            conn.execute(text("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE"))  # foreign key checks wait
            batches = [
                asyncio.create_task(
                    stores.interactions.add_many([make_interaction(user_id=reader, post_id=p)])
                )
                for p in posts
            ]
            await asyncio.sleep(0.2)  # every write connection is taken, and one batch waits its turn
            started = time.monotonic()
            checked = await stores.lists.check(reader, "v1", NOW, listed)
            assert checked == ListCheck({posts[0]}, GENERATED, set(), True)
            assert await stores.interactions.seen_post_ids(reader) == {posts[0]}
            waited = time.monotonic() - started
            await asyncio.sleep(0.8)
            blocker.rollback()
        stored = await asyncio.gather(*batches)
    finally:
        locker.dispose()
    assert waited < 0.5
    assert all(len(ids) == 1 for ids in stored)
