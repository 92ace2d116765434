"""The write-behind writer of computed lists against real databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from app.domain.entities import RankedPosts, Reason, Recommendation, ServedList, StoredList
from app.domain.ports import ListCheck, StoredListRepository
from app.infrastructure.db.stored_list_writer import BackgroundListWriter
from app.infrastructure.db.stores import Stores
from app.shared.exceptions import StorageUnavailable
from tests.builders import BASE_TIME

pytestmark = pytest.mark.anyio


def a_list(user_id: uuid.UUID, *scores: float, version: str = "v1") -> StoredList:
    items = RankedPosts(Recommendation(uuid.uuid4(), s, Reason.TRENDING) for s in scores or (0.5,))
    return StoredList(user_id, version, BASE_TIME, BASE_TIME + timedelta(hours=1), items)


@asynccontextmanager
async def running(writer: BackgroundListWriter) -> AsyncIterator[BackgroundListWriter]:
    task = asyncio.create_task(writer.run())
    try:
        yield writer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class FailingFirst:
    """The real repository, but the database is down for the first `failures` stores."""

    def __init__(self, lists: StoredListRepository, failures: int) -> None:
        self._lists = lists
        self.failures = failures

    async def read(self, *args: object) -> StoredList | None:
        raise NotImplementedError

    async def check(self, *args: object) -> ListCheck:
        raise NotImplementedError

    async def delete_expired(self, *args: object) -> int:
        raise NotImplementedError

    async def store(self, lists: Sequence[StoredList]) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("database unavailable")
        await self._lists.store(lists)


async def test_saved_lists_are_stored_and_the_newest_per_user_wins(stores: Stores) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    old, new, others = a_list(user, 0.9), a_list(user, 0.8, 0.7), a_list(other, 0.6)
    async with running(BackgroundListWriter(stores.lists, stores.served)) as writer:
        for stored in (old, new, others):
            writer.save(stored)
        await asyncio.wait_for(writer.flush(), timeout=5)
    assert await stores.lists.read(user, "v1", BASE_TIME) == new
    assert await stores.lists.read(other, "v1", BASE_TIME) == others


async def test_served_lists_are_stored_beside_stored_ones(stores: Stores) -> None:
    user = uuid.uuid4()
    stored = a_list(user, 0.9, 0.8)
    served = ServedList(uuid.uuid4(), user, "v1", "model", BASE_TIME + timedelta(hours=1), stored.items)
    async with running(BackgroundListWriter(stores.lists, stores.served)) as writer:
        writer.save(stored)
        writer.save_served(served)
        await asyncio.wait_for(writer.flush(), timeout=5)
    assert await stores.lists.read(user, "v1", BASE_TIME) == stored
    assert await stores.served.get(served.id, BASE_TIME) == served


async def test_lists_saved_while_a_batch_is_written_are_written_next(stores: Stores) -> None:
    users = [uuid.uuid4() for _ in range(120)]
    async with running(BackgroundListWriter(stores.lists, stores.served, batch=50)) as writer:
        for user in users:
            writer.save(a_list(user))
            await asyncio.sleep(0)
        latest = a_list(users[0], 0.1, version="v2")
        writer.save(latest)
        await asyncio.wait_for(writer.flush(), timeout=10)
    assert await stores.lists.read(users[0], "v2", BASE_TIME) == latest
    assert all([await stores.lists.read(u, "v1", BASE_TIME) is not None for u in users[1:]])


async def test_a_failed_write_is_logged_and_the_writer_keeps_going(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    user = uuid.uuid4()
    lost, kept = a_list(user, 0.9), a_list(user, 0.5)
    async with running(BackgroundListWriter(FailingFirst(stores.lists, failures=1), stores.served)) as writer:
        writer.save(lost)
        await asyncio.wait_for(writer.flush(), timeout=5)
        writer.save(kept)
        await asyncio.wait_for(writer.flush(), timeout=5)
    assert "could not store 1 lists" in caplog.text
    assert await stores.lists.read(user, "v1", BASE_TIME) == kept


async def test_a_full_queue_drops_lists_instead_of_blocking(stores: Stores) -> None:
    writer = BackgroundListWriter(stores.lists, stores.served, max_pending=1)
    users = [uuid.uuid4() for _ in range(200)]
    for user in users:
        writer.save(a_list(user))
    assert writer.dropped == 199
    async with running(writer):
        await asyncio.wait_for(writer.flush(), timeout=5)
    assert await stores.lists.read(users[0], "v1", BASE_TIME) is not None
    assert await stores.lists.read(users[1], "v1", BASE_TIME) is None
