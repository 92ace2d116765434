"""The catalogue and served-list contract on both adapters: upserts, post deletion, user erasure and
lists kept for cursors."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.domain.entities import RankedPosts, Reason, Recommendation, ServedList, StoredList
from app.infrastructure.db.orm import INTERACTIONS, POSTS, RECOMMENDATIONS, SERVED, USERS
from app.infrastructure.db.stores import Stores
from app.shared.exceptions import Conflict
from tests.builders import BASE_TIME, make_interaction, make_post, make_user
from tests.integration.conftest import Database, seed

pytestmark = pytest.mark.anyio

EXPIRES = BASE_TIME + timedelta(hours=1)


def count(database: Database, table: object, *where: object) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def items(post_ids: list[uuid.UUID]) -> RankedPosts:
    return RankedPosts(Recommendation(p, 0.5, Reason.COLLABORATIVE_FILTERING) for p in post_ids)


async def test_a_user_is_created_then_updated_and_a_taken_username_is_a_conflict(stores: Stores) -> None:
    user = make_user()
    assert await stores.users.upsert(user) is True
    renamed = dataclasses.replace(user, username="renamed", follower_count=7)
    assert await stores.users.upsert(renamed) is False
    other = make_user()
    await stores.users.upsert(other)
    with pytest.raises(Conflict):
        await stores.users.upsert(dataclasses.replace(other, username="renamed"))


async def test_posts_are_upserted_and_an_unknown_author_is_created(
    stores: Stores, database: Database
) -> None:
    world = await seed(stores)
    stranger = uuid.uuid4()
    new = make_post(author_id=stranger, created_at=BASE_TIME)
    edited = dataclasses.replace(world.posts[0], content="edited", hashtags=("a", "b"), topic="t")
    assert await stores.posts.upsert_many([new, edited]) == 1
    assert await stores.users.existing_ids([stranger]) == {stranger}
    with database.engine.connect() as conn:
        row = conn.execute(
            select(POSTS.c.content, POSTS.c.hashtags, POSTS.c.topic).where(POSTS.c.id == edited.id)
        )
        assert tuple(row.one()) == ("edited", ["a", "b"], "t")
    assert await stores.posts.upsert_many([]) == 0


async def test_a_deleted_post_leaves_interactions_and_lists_and_is_remembered(
    stores: Stores, database: Database
) -> None:
    world = await seed(stores)
    reader, gone, kept = world.reader.id, world.posts[0].id, world.posts[1].id
    await stores.interactions.add_many([make_interaction(user_id=reader, post_id=p) for p in (gone, kept)])
    await stores.lists.store([StoredList(reader, "v1", BASE_TIME, EXPIRES, items([gone, kept]))])
    assert await stores.posts.delete(gone, BASE_TIME) is True
    assert await stores.posts.delete(gone, BASE_TIME) is False
    assert count(database, INTERACTIONS, INTERACTIONS.c.post_id == gone) == 0
    stored = await stores.lists.read(reader, "v1", BASE_TIME)
    assert stored is not None
    assert [r.post_id for r in stored.items] == [kept]
    assert await stores.posts.deleted_ids() == {gone}
    assert (await stores.lists.check(reader, "v1", BASE_TIME, items([gone, kept]))).gone == {gone}
    assert await stores.posts.forget_deleted(BASE_TIME) == 0
    assert await stores.posts.forget_deleted(BASE_TIME + timedelta(seconds=1)) == 1
    assert await stores.posts.deleted_ids() == set()


async def test_a_post_stored_again_after_its_deletion_is_no_longer_deleted(stores: Stores) -> None:
    world = await seed(stores)
    post = world.posts[0]
    await stores.posts.delete(post.id, BASE_TIME)
    assert await stores.posts.upsert_many([post]) == 1
    assert await stores.posts.deleted_ids() == set()


async def test_an_erased_user_leaves_no_row_in_any_table(stores: Stores, database: Database) -> None:
    world = await seed(stores)
    erased, other = world.author, world.reader
    own = world.posts[0].id
    await stores.interactions.add_many(
        [make_interaction(user_id=other.id, post_id=own), make_interaction(user_id=erased.id, post_id=own)]
    )
    await stores.lists.store(
        [
            StoredList(erased.id, "v1", BASE_TIME, EXPIRES, items([own])),
            StoredList(other.id, "v1", BASE_TIME, EXPIRES, items([own, world.posts[1].id])),
        ]
    )
    await stores.served.save([ServedList(uuid.uuid4(), erased.id, "v1", "model", EXPIRES, items([own]))])
    assert await stores.users.erase(erased.id, BASE_TIME) is True
    assert await stores.users.erase(erased.id, BASE_TIME) is False
    assert count(database, USERS, USERS.c.id == erased.id) == 0
    assert count(database, POSTS, POSTS.c.author_id == erased.id) == 0
    assert count(database, INTERACTIONS, INTERACTIONS.c.user_id == erased.id) == 0
    assert count(database, INTERACTIONS, INTERACTIONS.c.post_id == own) == 0
    assert count(database, RECOMMENDATIONS, RECOMMENDATIONS.c.user_id == erased.id) == 0
    assert count(database, RECOMMENDATIONS, RECOMMENDATIONS.c.post_id == own) == 0
    assert count(database, SERVED, SERVED.c.user_id == erased.id) == 0
    assert await stores.posts.deleted_ids() == {p.id for p in world.posts}
    mentions = {str(erased.id), erased.id.hex, erased.username}
    assert not any(m in dump(database) for m in mentions)


async def test_a_served_list_reads_back_until_it_expires_and_a_later_save_extends_it(stores: Stores) -> None:
    world = await seed(stores)
    served = ServedList(
        uuid.uuid4(), world.reader.id, None, "cold_start", EXPIRES, items([p.id for p in world.posts])
    )
    assert await stores.served.get(served.id, BASE_TIME) is None
    await stores.served.save([served])
    assert await stores.served.get(served.id, BASE_TIME) == served
    later = dataclasses.replace(served, expires_at=EXPIRES + timedelta(hours=1))
    await stores.served.save([later])
    await stores.served.save([served])  # an earlier expiry never shortens it
    assert await stores.served.get(served.id, EXPIRES) == later
    empty = ServedList(uuid.uuid4(), world.reader.id, "v1", "model", EXPIRES, RankedPosts())
    await stores.served.save([empty])
    assert await stores.served.get(empty.id, BASE_TIME) == empty
    assert await stores.served.delete_expired(EXPIRES) == 1
    assert await stores.served.delete_expired(EXPIRES + timedelta(hours=1)) == 1


def dump(database: Database) -> str:
    """Every row of every table, as text."""
    with database.engine.connect() as conn:
        tables = ["users", "posts", "user_interaction", "user_recommendation", "served_list", "deleted_post"]
        return "\n".join(str(row) for t in tables for row in conn.execute(text(f"SELECT * FROM {t}")))
