"""One contract, two adapters of each port: SQLite (SQLAlchemy Core) and PostgreSQL (asyncpg).

The in-memory fakes keep to the same contract in tests/unit. Columns no port reads back (every
column of a user or an interaction) are read through the ORM's table and mappers, so both
adapters are held to what the schema says. Stored lists: test_stored_list_contract.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Table, select

from app.domain.entities import HistoryItem, Interaction, InteractionType, User
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import InteractionRow, UserRow
from app.infrastructure.db.stores import Stores
from app.shared.exceptions import InvalidInput
from tests.builders import BASE_TIME, make_interaction, make_post, make_user
from tests.integration.conftest import Database, seed

pytestmark = pytest.mark.anyio

USERS = cast(Table, UserRow.__table__)
INTERACTIONS = cast(Table, InteractionRow.__table__)


def stored_users(database: Database, *ids: uuid.UUID) -> list[User]:
    with database.engine.connect() as conn:
        rows = conn.execute(select(USERS).where(USERS.c.id.in_(ids)).order_by(USERS.c.username))
        return [mappers.user_from_row(r) for r in rows]


def stored_interactions(database: Database, user_id: uuid.UUID) -> list[Interaction]:
    """Every interaction of the user, every column, oldest first."""
    with database.engine.connect() as conn:
        rows = conn.execute(
            select(INTERACTIONS)
            .where(INTERACTIONS.c.user_id == user_id)
            .order_by(INTERACTIONS.c.created_at, INTERACTIONS.c.event_id)
        )
        return [mappers.interaction_from_row(r) for r in rows]


# --- users and posts --------------------------------------------------------------------------


async def test_users_are_inserted_once_with_every_column(stores: Stores, database: Database) -> None:
    user = make_user(follower_count=42, display_name="Zoë ✓")
    assert await stores.users.add_many([user]) == 1
    assert await stores.users.add_many([user]) == 0
    assert await stores.users.add_many([]) == 0
    assert stored_users(database, user.id) == [user]
    assert await stores.users.existing_ids([user.id, make_user().id, user.id]) == {user.id}
    assert await stores.users.existing_ids([]) == set()


async def test_a_batch_counts_only_the_users_that_were_new(stores: Stores) -> None:
    old, new = make_user(), make_user()
    await stores.users.add_many([old])
    assert await stores.users.add_many([old, new]) == 1
    assert await stores.users.existing_ids([old.id, new.id]) == {old.id, new.id}


async def test_posts_are_inserted_once_and_found_by_author_and_by_creation_time(stores: Stores) -> None:
    world = await seed(stores)
    posts = world.posts
    assert await stores.posts.add_many(posts) == 0
    assert await stores.posts.ids_by_author(world.author.id) == {p.id for p in posts}
    assert await stores.posts.ids_by_author(world.reader.id) == set()
    assert await stores.posts.created_since(BASE_TIME + timedelta(hours=1), limit=10) == [posts[2], posts[1]]
    assert await stores.posts.created_since(BASE_TIME, limit=1) == [posts[2]]
    assert await stores.posts.created_since(BASE_TIME + timedelta(days=1), limit=10) == []
    assert await stores.posts.existing_ids([posts[0].id, posts[0].id, uuid.uuid4()]) == {posts[0].id}


async def test_a_post_without_topic_or_hashtags_reads_back_as_written(stores: Stores) -> None:
    author = make_user()
    bare = make_post(author_id=author.id, topic=None, hashtags=())
    tagged = make_post(
        author_id=author.id, hashtags=("a,b", 'say "hi"', "ünï"), created_at=BASE_TIME - timedelta(1)
    )
    await stores.users.add_many([author])
    assert await stores.posts.add_many([bare, tagged]) == 2
    assert await stores.posts.created_since(BASE_TIME - timedelta(days=2), limit=10) == [bare, tagged]


async def test_a_post_by_an_unknown_author_is_refused_with_its_batch(stores: Stores) -> None:
    author = make_user()
    await stores.users.add_many([author])
    good, orphan = make_post(author_id=author.id), make_post()
    with pytest.raises(InvalidInput):
        await stores.posts.add_many([good, orphan])
    assert await stores.posts.existing_ids([good.id, orphan.id]) == set()


async def test_a_batch_larger_than_a_statement_holds_is_stored_and_found(stores: Stores) -> None:
    author = make_user()
    posts = [make_post(author_id=author.id) for _ in range(1200)]
    await stores.users.add_many([author])
    assert await stores.posts.add_many(posts) == 1200
    assert await stores.posts.existing_ids([p.id for p in posts] + [uuid.uuid4()]) == {p.id for p in posts}


# --- interactions ------------------------------------------------------------------------------


async def test_interactions_are_stored_with_every_column(stores: Stores, database: Database) -> None:
    world = await seed(stores)
    reader, posts = world.reader, world.posts
    early = make_interaction(user_id=reader.id, post_id=posts[0].id, metadata={"dwell_time_ms": 1200})
    late = make_interaction(
        user_id=reader.id,
        post_id=posts[1].id,
        kind=InteractionType.LIKE,
        created_at=BASE_TIME + timedelta(days=1),
        event_id="evt-late",
    )
    assert await stores.interactions.add_many([late, early]) == {late.id, early.id}
    assert await stores.interactions.add_many([]) == set()
    assert stored_interactions(database, reader.id) == [early, late]


async def test_an_interaction_without_metadata_stores_sql_null(stores: Stores, database: Database) -> None:
    """As the seeder writes it: a JSON `null` would not be NULL to the app's own SQL."""
    world = await seed(stores)
    bare = make_interaction(user_id=world.reader.id, post_id=world.posts[0].id)
    await stores.interactions.add_many([bare])
    with database.engine.connect() as conn:
        column = INTERACTIONS.c.metadata
        assert conn.scalar(select(column.is_(None)).where(INTERACTIONS.c.id == bare.id)) is True


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "a,b", "{braces}", "NULL", " padded ", "ünïcödé ✓", "'quote'"],
)
async def test_metadata_and_event_ids_keep_every_character(
    stores: Stores, database: Database, text: str
) -> None:
    world = await seed(stores)
    reader, posts = world.reader, world.posts
    item = make_interaction(
        user_id=reader.id,
        post_id=posts[0].id,
        metadata={text: text, "nested": {"list": [text, 1.5, None, True]}},
        event_id=text,
    )
    plain = make_interaction(user_id=reader.id, post_id=posts[1].id, created_at=BASE_TIME + timedelta(1))
    assert await stores.interactions.add_many([item, plain]) == {item.id, plain.id}
    assert stored_interactions(database, reader.id) == [item, plain]


async def test_a_repeated_event_id_is_stored_once_within_and_across_batches(
    stores: Stores, database: Database
) -> None:
    world = await seed(stores)

    def event(event_id: str) -> Interaction:
        return make_interaction(user_id=world.reader.id, post_id=world.posts[0].id, event_id=event_id)

    first = [event("e1"), event("e1"), event("e2")]
    assert await stores.interactions.add_many(first) == {first[0].id, first[2].id}
    second = [event("e2"), event("e3")]
    assert await stores.interactions.add_many(second) == {second[1].id}
    assert {i.id for i in stored_interactions(database, world.reader.id)} == {
        first[0].id,
        first[2].id,
        second[1].id,
    }


async def test_an_event_id_is_unique_per_user_within_and_across_batches(
    stores: Stores, database: Database
) -> None:
    world = await seed(stores)
    reader, author, posts = world.reader.id, world.author.id, world.posts
    mine = make_interaction(user_id=reader, post_id=posts[0].id, event_id="evt-1")
    theirs = make_interaction(user_id=author, post_id=posts[1].id, event_id="evt-1")
    again = make_interaction(user_id=reader, post_id=posts[2].id, event_id="evt-1")
    assert await stores.interactions.add_many([mine, theirs, again]) == {mine.id, theirs.id}
    stranger = make_interaction(user_id=uuid.uuid4(), post_id=posts[0].id, event_id="evt-1")
    later = make_interaction(user_id=author, post_id=posts[2].id, event_id="evt-1")
    assert await stores.interactions.add_many([stranger, later]) == {stranger.id}
    assert stored_interactions(database, reader) == [mine]
    assert stored_interactions(database, author) == [theirs]


async def test_the_first_item_of_an_event_id_with_a_known_post_is_the_one_stored(
    stores: Stores, database: Database
) -> None:
    """The batch goes in in order, also when an unknown post makes the store leave items out."""
    world = await seed(stores)

    def event(kind: InteractionType, post_id: uuid.UUID) -> Interaction:
        return make_interaction(user_id=world.reader.id, post_id=post_id, kind=kind, event_id="e1")

    lost = event(InteractionType.SHARE, uuid.uuid4())
    batch = [lost, *(event(kind, world.posts[0].id) for kind in InteractionType)]
    assert await stores.interactions.add_many(batch) == {batch[1].id}
    assert stored_interactions(database, world.reader.id) == [batch[1]]


async def test_interactions_are_found_by_user_and_event_id_with_every_column(stores: Stores) -> None:
    world = await seed(stores)
    metadata = {"dwell": 1.5, "big": 10**30, "on": True, "none": None, "tags": ["a", {"b": "ü"}]}
    mine = make_interaction(
        user_id=world.reader.id,
        post_id=world.posts[1].id,
        kind=InteractionType.LIKE,
        event_id="e1",
        metadata=metadata,
    )
    theirs = make_interaction(user_id=world.author.id, post_id=world.posts[0].id, event_id="e2")
    await stores.interactions.add_many(
        [mine, theirs, make_interaction(user_id=world.reader.id, post_id=world.posts[0].id)]
    )
    keys = [(world.reader.id, "e1"), (world.reader.id, "e2"), (world.author.id, "e2"), (uuid.uuid4(), "e1")]
    found = await stores.interactions.with_event_ids(keys)
    assert sorted(found, key=lambda i: i.event_id or "") == [mine, theirs]
    assert await stores.interactions.with_event_ids([]) == []


async def test_a_batch_sent_again_is_not_stored_twice(stores: Stores, database: Database) -> None:
    """What a retried delivery does: the ids are the caller's, so nothing doubles."""
    world = await seed(stores)
    batch = [make_interaction(user_id=world.reader.id, post_id=p.id) for p in world.posts]
    assert await stores.interactions.add_many(batch) == {i.id for i in batch}
    assert await stores.interactions.add_many(batch) == set()
    assert len(stored_interactions(database, world.reader.id)) == 3


async def test_interactions_of_unknown_posts_are_left_out_and_unknown_users_are_created(
    stores: Stores, database: Database
) -> None:
    world = await seed(stores)
    reader, post = world.reader, world.posts[0]
    good = make_interaction(user_id=reader.id, post_id=post.id)
    other = make_interaction(user_id=world.author.id, post_id=post.id)
    stranger = make_interaction(user_id=uuid.uuid4(), post_id=post.id)
    lost_post = make_interaction(user_id=reader.id, post_id=uuid.uuid4())
    stored = await stores.interactions.add_many([stranger, good, lost_post, other])
    assert stored == {good.id, other.id, stranger.id}
    assert stored_interactions(database, reader.id) == [good]
    assert stored_interactions(database, world.author.id) == [other]
    assert stored_interactions(database, stranger.user_id) == [stranger]
    assert await stores.users.existing_ids([stranger.user_id]) == {stranger.user_id}
    assert await stores.interactions.add_many([stranger, lost_post]) == set()


async def test_history_is_post_kind_and_time_oldest_first(stores: Stores) -> None:
    world = await seed(stores)
    reader, posts = world.reader, world.posts
    late = make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.LIKE)
    early = make_interaction(
        user_id=reader.id, post_id=posts[1].id, created_at=late.created_at - timedelta(minutes=5)
    )
    await stores.interactions.add_many([late, early])
    history = await stores.interactions.history(reader.id)
    assert history == [
        HistoryItem(posts[1].id, InteractionType.VIEW, early.created_at),
        HistoryItem(posts[0].id, InteractionType.LIKE, late.created_at),
    ]
    assert all(item.created_at.utcoffset() == timedelta(0) for item in history)
    assert await stores.interactions.history(world.author.id) == []


async def test_a_time_with_any_offset_is_stored_as_the_same_instant(stores: Stores) -> None:
    world = await seed(stores)
    two_hours_east = timezone(timedelta(hours=2))
    # 13:30 in UTC, written at +02:00: after an interaction at 13:00 UTC, before one at 14:00 UTC.
    offset = make_interaction(
        user_id=world.reader.id,
        post_id=world.posts[0].id,
        created_at=datetime(2026, 11, 1, 15, 30, tzinfo=two_hours_east),
    )
    before = make_interaction(
        user_id=world.reader.id, post_id=world.posts[1].id, created_at=datetime(2026, 11, 1, 13, tzinfo=UTC)
    )
    after = make_interaction(
        user_id=world.reader.id, post_id=world.posts[2].id, created_at=datetime(2026, 11, 1, 14, tzinfo=UTC)
    )
    await stores.interactions.add_many([offset, before, after])
    history = await stores.interactions.history(world.reader.id)
    assert [h.post_id for h in history] == [before.post_id, offset.post_id, after.post_id]
    assert history[1].created_at == datetime(2026, 11, 1, 13, 30, tzinfo=UTC)
    since = datetime(2026, 11, 1, 15, 45, tzinfo=two_hours_east)  # 13:45 UTC
    engagement = await stores.interactions.engagement_since(since, {"view": 1})
    assert [e.post_id for e in engagement] == [after.post_id]


async def test_seen_post_ids_are_every_post_the_user_touched(stores: Stores) -> None:
    world = await seed(stores)
    reader, posts = world.reader, world.posts
    await stores.interactions.add_many(
        [make_interaction(user_id=reader.id, post_id=p.id) for p in (posts[0], posts[0], posts[2])]
    )
    assert await stores.interactions.seen_post_ids(reader.id) == {posts[0].id, posts[2].id}
    assert await stores.interactions.seen_post_ids(world.author.id) == set()


async def test_engagement_sums_weights_per_post_since_a_time(stores: Stores) -> None:
    world = await seed(stores)
    reader, posts = world.reader, world.posts
    await stores.interactions.add_many(
        [
            make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.VIEW),
            make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.SHARE),
            make_interaction(user_id=world.author.id, post_id=posts[0].id, kind=InteractionType.SHARE),
            make_interaction(user_id=reader.id, post_id=posts[2].id, kind=InteractionType.CLICK),
            make_interaction(
                user_id=reader.id, post_id=posts[1].id, created_at=BASE_TIME - timedelta(days=9)
            ),
        ]
    )
    engagement = await stores.interactions.engagement_since(
        BASE_TIME - timedelta(days=1), {"view": 1, "share": 10}
    )
    assert sorted((e.post_id, e.author_id, e.post_created_at, e.weight) for e in engagement) == sorted(
        [
            (posts[0].id, world.author.id, posts[0].created_at, 21.0),
            (posts[2].id, world.author.id, posts[2].created_at, 0.0),  # a kind without a weight
        ]
    )
    assert all(e.post_created_at.utcoffset() == timedelta(0) for e in engagement)
    assert await stores.interactions.engagement_since(BASE_TIME + timedelta(seconds=1), {"view": 1}) == []
