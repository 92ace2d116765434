"""The stored-list contract on both adapters: SQLite (SQLAlchemy Core) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select

from app.domain.entities import Post, RankedPosts, Reason, Recommendation, StoredList
from app.domain.ports import ListCheck
from app.infrastructure.db.orm import RecommendationRow
from app.infrastructure.db.stores import Stores
from tests import builders
from tests.builders import BASE_TIME, make_interaction, make_post, make_user
from tests.integration.conftest import Database, seed

pytestmark = pytest.mark.anyio

RECOMMENDATIONS = cast(Table, RecommendationRow.__table__)
EXPIRES = BASE_TIME + timedelta(hours=1)


def stored_list(user_id: uuid.UUID, items: list[Recommendation], **overrides: Any) -> StoredList:
    values: dict[str, Any] = {
        "user_id": user_id,
        "model_version": "v1",
        "generated_at": BASE_TIME,
        "expires_at": EXPIRES,
        "items": RankedPosts(items),
    }
    values.update(overrides)
    return StoredList(**values)


def ranked(posts: list[Post], reason: Reason = Reason.COLLABORATIVE_FILTERING) -> list[Recommendation]:
    return [Recommendation(p.id, round(0.9 - 0.1 * i, 2), reason) for i, p in enumerate(posts)]


async def test_a_stored_list_reads_back_in_rank_order_until_it_expires(stores: Stores) -> None:
    world = await seed(stores)
    user, posts = world.reader.id, world.posts
    # Rank, not score or id, orders the list.
    items = [
        Recommendation(posts[1].id, 0.4, Reason.TRENDING),
        Recommendation(posts[2].id, 0.9, Reason.COLLABORATIVE_FILTERING),
        Recommendation(posts[0].id, 0.123456789012345, Reason.NEW_POST),
    ]
    assert await stores.lists.read(user, "v1", BASE_TIME) is None
    await stores.lists.store([stored_list(user, items)])
    read = await stores.lists.read(user, "v1", BASE_TIME)
    assert read == stored_list(user, items)
    assert read is not None
    assert read.generated_at.utcoffset() == read.expires_at.utcoffset() == timedelta(0)
    assert await stores.lists.read(user, "v2", BASE_TIME) is None
    assert await stores.lists.read(user, "v1", EXPIRES - timedelta(microseconds=1)) is not None
    assert await stores.lists.read(user, "v1", EXPIRES) is None
    assert await stores.lists.read(world.author.id, "v1", BASE_TIME) is None


async def test_storing_a_list_replaces_the_users_whole_list(stores: Stores) -> None:
    world = await seed(stores)
    user, posts = world.reader.id, world.posts
    first = [Recommendation(p.id, 0.5, Reason.TRENDING) for p in posts]
    second = [
        Recommendation(posts[2].id, 0.8, Reason.CONTENT_SIMILARITY),
        Recommendation(posts[0].id, 0.1, Reason.RECENCY),
    ]
    await stores.lists.store([stored_list(user, first)])
    await stores.lists.store([stored_list(user, second, model_version="v2")])
    assert await stores.lists.read(user, "v2", BASE_TIME) == stored_list(user, second, model_version="v2")
    assert await stores.lists.read(user, "v1", BASE_TIME) is None
    await stores.lists.store([stored_list(user, [], model_version="v2")])
    assert await stores.lists.read(user, "v2", BASE_TIME) is None


async def test_many_lists_are_stored_at_once_and_each_replaces_only_its_users(stores: Stores) -> None:
    world = await seed(stores)
    reader, author, posts = world.reader.id, world.author.id, world.posts
    other = uuid.uuid4()  # lists are a cache: their users need not be stored
    await stores.lists.store([stored_list(other, ranked(posts))])
    lists = [stored_list(reader, ranked(posts[:2])), stored_list(author, ranked(posts[::-1]))]
    await stores.lists.store(lists)
    await stores.lists.store([])
    assert [await stores.lists.read(u, "v1", BASE_TIME) for u in (reader, author, other)] == [
        *lists,
        stored_list(other, ranked(posts)),
    ]


async def test_a_long_list_keeps_its_order(stores: Stores) -> None:
    user = uuid.uuid4()
    items = [Recommendation(uuid.uuid4(), (i % 97) / 96, Reason.TRENDING) for i in range(1100)]
    await stores.lists.store([stored_list(user, items)])
    assert await stores.lists.read(user, "v1", BASE_TIME) == stored_list(user, items)
    shorter = items[500:] + items[:100]
    await stores.lists.store([stored_list(user, shorter)])
    assert await stores.lists.read(user, "v1", BASE_TIME) == stored_list(user, shorter)


async def test_the_check_names_the_seen_posts_among_those_asked(stores: Stores) -> None:
    world = await seed(stores)
    reader, posts = world.reader.id, world.posts
    await stores.interactions.add_many([make_interaction(user_id=reader, post_id=p.id) for p in posts[:2]])
    asked = builders.ranked([posts[1].id, posts[2].id, uuid.uuid4()])
    assert await stores.lists.check(reader, "v1", BASE_TIME, asked) == ListCheck(
        {posts[1].id}, None, set(), True
    )
    assert await stores.lists.check(reader, "v1", BASE_TIME, RankedPosts()) == ListCheck(
        set(), None, set(), True
    )
    by_author = await stores.lists.check(world.author.id, "v1", BASE_TIME, asked)
    assert by_author == ListCheck(set(), None, set(), True)
    assert not (await stores.lists.check(uuid.uuid4(), "v1", BASE_TIME, asked)).user_known


async def test_the_check_tells_when_the_fresh_stored_list_was_generated(stores: Stores) -> None:
    world = await seed(stores)
    user, posts = world.reader.id, world.posts
    later = BASE_TIME + timedelta(minutes=5)
    await stores.lists.store([stored_list(user, ranked(posts))])
    assert (await stores.lists.check(user, "v1", BASE_TIME, RankedPosts())).generated_at == BASE_TIME
    await stores.lists.store([stored_list(user, ranked(posts[:1]), generated_at=later)])  # a newer list
    checked = await stores.lists.check(user, "v1", BASE_TIME, builders.ranked(p.id for p in posts))
    assert checked == ListCheck(set(), later, set(), True)
    assert checked.generated_at is not None
    assert checked.generated_at.utcoffset() == timedelta(0)
    assert (await stores.lists.check(user, "v2", BASE_TIME, RankedPosts())).generated_at is None
    assert (await stores.lists.check(user, "v1", EXPIRES, RankedPosts())).generated_at is None


async def test_the_check_of_many_posts_finds_every_seen_one(stores: Stores) -> None:
    author, reader = make_user(), make_user()
    posts = [make_post(author_id=author.id) for _ in range(1100)]
    await stores.users.add_many([author, reader])
    await stores.posts.add_many(posts)
    seen = posts[::3]
    await stores.interactions.add_many([make_interaction(user_id=reader.id, post_id=p.id) for p in seen])
    checked = await stores.lists.check(reader.id, "v1", BASE_TIME, builders.ranked(p.id for p in posts))
    assert checked.seen == {p.id for p in seen}


async def test_expired_rows_are_deleted_and_counted(stores: Stores, database: Database) -> None:
    world = await seed(stores)
    posts = world.posts
    soon, later = BASE_TIME + timedelta(minutes=5), BASE_TIME + timedelta(minutes=10)
    await stores.lists.store(
        [
            stored_list(world.reader.id, ranked(posts), expires_at=soon),
            stored_list(world.author.id, ranked(posts[:2]), expires_at=later),
        ]
    )
    assert await stores.lists.delete_expired(BASE_TIME) == 0
    assert await stores.lists.delete_expired(soon) == 3
    assert await stores.lists.read(world.reader.id, "v1", BASE_TIME) is None
    assert await stores.lists.read(world.author.id, "v1", BASE_TIME) == stored_list(
        world.author.id, ranked(posts[:2]), expires_at=later
    )
    assert await stores.lists.delete_expired(soon) == 0
    assert await stores.lists.delete_expired(later + timedelta(days=1)) == 2
    with database.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RECOMMENDATIONS)) == 0
