"""The in-memory fakes hold to the contract tests/integration/test_repository_contract.py sets the
database adapters, where the use-case tests depend on it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from app.domain.entities import RankedPosts, Reason, Recommendation, StoredList
from app.domain.ports import ListCheck
from tests.builders import BASE_TIME, make_interaction, make_post, make_user, ranked
from tests.fakes import InMemoryStores

pytestmark = pytest.mark.anyio

EXPIRES = BASE_TIME + timedelta(hours=1)


def _list(
    user_id: uuid.UUID,
    post_ids: list[uuid.UUID],
    *,
    version: str = "v1",
    generated_at: datetime = BASE_TIME,
    expires_at: datetime = EXPIRES,
) -> StoredList:
    items = RankedPosts(Recommendation(p, 0.5, Reason.TRENDING) for p in post_ids)
    return StoredList(user_id, version, generated_at, expires_at, items)


async def _seeded() -> tuple[InMemoryStores, uuid.UUID, list[uuid.UUID]]:
    stores, reader = InMemoryStores(), make_user()
    posts = [make_post() for _ in range(3)]
    await stores.users.add_many([reader])
    await stores.posts.add_many(posts)
    return stores, reader.id, [p.id for p in posts]


async def test_interactions_are_stored_once_per_id_and_event_id_for_known_posts_creating_users() -> None:
    stores, reader, posts = await _seeded()
    first = make_interaction(user_id=reader, post_id=posts[0], event_id="e1")
    repeat = make_interaction(user_id=reader, post_id=posts[1], event_id="e1")
    stranger = make_interaction(user_id=uuid.uuid4(), post_id=posts[0])
    lost = make_interaction(user_id=reader, post_id=uuid.uuid4())
    assert await stores.interactions.add_many([first, repeat, stranger, lost]) == {first.id, stranger.id}
    assert stranger.user_id in stores.users.rows
    assert await stores.interactions.add_many([first]) == set()
    assert await stores.interactions.add_many([repeat]) == set()
    assert await stores.interactions.seen_post_ids(reader) == {posts[0]}


async def test_an_event_id_is_unique_per_user_and_found_by_user_and_event_id() -> None:
    stores, reader, posts = await _seeded()
    other = uuid.uuid4()
    mine = make_interaction(user_id=reader, post_id=posts[0], event_id="e1")
    theirs = make_interaction(user_id=other, post_id=posts[1], event_id="e1")
    again = make_interaction(user_id=reader, post_id=posts[2], event_id="e1")
    assert await stores.interactions.add_many([mine, theirs, again]) == {mine.id, theirs.id}
    keys = [(reader, "e1"), (other, "e2"), (uuid.uuid4(), "e1")]
    assert await stores.interactions.with_event_ids(keys) == [mine]
    assert await stores.interactions.with_event_ids([]) == []


async def test_a_stored_list_is_read_for_its_version_until_it_expires() -> None:
    stores, reader, posts = await _seeded()
    await stores.lists.store([_list(reader, posts)])
    assert await stores.lists.read(reader, "v1", BASE_TIME) == _list(reader, posts)
    assert await stores.lists.read(reader, "v2", BASE_TIME) is None
    assert await stores.lists.read(reader, "v1", EXPIRES) is None


async def test_storing_a_list_replaces_the_users_whole_list_and_an_empty_one_clears_it() -> None:
    stores, reader, posts = await _seeded()
    other = uuid.uuid4()
    await stores.lists.store([_list(reader, posts), _list(other, posts)])
    await stores.lists.store([_list(reader, posts[:1], version="v2")])
    assert await stores.lists.read(reader, "v1", BASE_TIME) is None
    assert await stores.lists.read(reader, "v2", BASE_TIME) == _list(reader, posts[:1], version="v2")
    assert await stores.lists.read(other, "v1", BASE_TIME) == _list(other, posts)
    await stores.lists.store([_list(reader, [], version="v2")])
    assert await stores.lists.read(reader, "v2", BASE_TIME) is None


async def test_the_check_names_the_seen_posts_asked_about_and_when_the_live_list_was_generated() -> None:
    stores, reader, posts = await _seeded()
    await stores.interactions.add_many([make_interaction(user_id=reader, post_id=p) for p in posts[:2]])
    asked = ranked([posts[1], posts[2]])
    assert await stores.lists.check(reader, "v1", BASE_TIME, asked) == ListCheck(
        {posts[1]}, None, set(), True
    )
    await stores.lists.store([_list(reader, posts, generated_at=BASE_TIME - timedelta(minutes=5))])
    checked = await stores.lists.check(reader, "v1", BASE_TIME, asked)
    assert checked == ListCheck({posts[1]}, BASE_TIME - timedelta(minutes=5), set(), True)
    await stores.posts.delete(posts[2], BASE_TIME)
    assert (await stores.lists.check(reader, "v1", BASE_TIME, asked)).gone == {posts[2]}
    assert not (await stores.lists.check(uuid.uuid4(), "v1", BASE_TIME, asked)).user_known
    assert (await stores.lists.check(reader, "v2", BASE_TIME, asked)).generated_at is None
    assert (await stores.lists.check(reader, "v1", EXPIRES, asked)).generated_at is None


async def test_expired_rows_are_deleted_and_counted_a_row_per_post() -> None:
    stores, reader, posts = await _seeded()
    soon = BASE_TIME + timedelta(minutes=5)
    await stores.lists.store([_list(reader, posts, expires_at=soon), _list(uuid.uuid4(), posts[:2])])
    assert await stores.lists.delete_expired(BASE_TIME) == 0
    assert await stores.lists.delete_expired(soon) == 3
    assert await stores.lists.read(reader, "v1", BASE_TIME) is None
    assert await stores.lists.delete_expired(EXPIRES) == 2
