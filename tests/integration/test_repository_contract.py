"""One contract, three implementations: in-memory fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from app.domain.entities import HistoryItem, InteractionType, Reason, Recommendation, StoredList
from app.domain.ports import UnitOfWork
from tests.builders import BASE_TIME, make_interaction, make_post, make_user
from tests.fakes import InMemoryUnitOfWorkFactory
from tests.integration.conftest import rolled_back_uow_factory

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uow_factory(request: pytest.FixtureRequest) -> Iterator[UowFactory]:
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    with rolled_back_uow_factory(request.getfixturevalue(f"{request.param}_engine")) as factory:
        yield factory


def _stored(uow: UnitOfWork, user_id: Any, now: Any, version: str) -> list[Recommendation]:
    """Every fresh stored row of the user, best first."""
    stored = uow.recommendations.fresh_list(user_id, version, now)
    return list(stored.items) if stored else []


def _seed(uow_factory: UowFactory, **counts: int) -> dict[str, Any]:
    author = make_user()
    reader = make_user()
    posts = [make_post(author_id=author.id, created_at=BASE_TIME + timedelta(hours=i)) for i in range(3)]
    with uow_factory() as uow:
        uow.users.add_many([author, reader])
        uow.posts.add_many(posts)
        uow.commit()
    return {"author": author, "reader": reader, "posts": posts}


def test_users_are_inserted_once_and_read_back(uow_factory: UowFactory) -> None:
    user = make_user(follower_count=42)
    with uow_factory() as uow:
        assert uow.users.add_many([user]) == 1
        assert uow.users.add_many([user]) == 0
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(user.id) == user
        assert uow.users.existing_ids([user.id, make_user().id]) == {user.id}


def test_posts_are_found_by_author_and_by_creation_time(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    posts = seeded["posts"]
    with uow_factory() as uow:
        assert uow.posts.ids_by_author(seeded["author"].id) == {p.id for p in posts}
        newest = uow.posts.created_since(BASE_TIME + timedelta(hours=1), limit=10)
        assert [p.id for p in newest] == [posts[2].id, posts[1].id]
        assert uow.posts.created_since(BASE_TIME, limit=1)[0].id == posts[2].id
        assert {p.id for p in uow.posts.get_many([posts[0].id, posts[0].id])} == {posts[0].id}
        assert uow.posts.get_many([posts[0].id])[0] == posts[0]


def test_interactions_round_trip_and_are_read_by_user_within_a_window(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    early = make_interaction(user_id=reader.id, post_id=posts[0].id, metadata={"dwell_time_ms": 1200})
    late = make_interaction(
        user_id=reader.id,
        post_id=posts[1].id,
        kind=InteractionType.LIKE,
        created_at=BASE_TIME + timedelta(days=1),
    )
    with uow_factory() as uow:
        assert uow.interactions.add_many([late, early]) == {late.id, early.id}
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.for_user(reader.id) == [early, late]
        assert uow.interactions.for_user(reader.id, since=BASE_TIME + timedelta(hours=1)) == [late]


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "a,b", "{braces}", "NULL", " padded ", "ünïcödé ✓", "'quote'"],
)
def test_metadata_and_event_ids_keep_every_character(uow_factory: UowFactory, text: str) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    item = make_interaction(
        user_id=reader.id,
        post_id=posts[0].id,
        metadata={text: text, "nested": {"list": [text, 1.5, None, True]}},
        event_id=text,
    )
    plain = make_interaction(user_id=reader.id, post_id=posts[1].id, created_at=BASE_TIME + timedelta(1))
    with uow_factory() as uow:
        assert uow.interactions.add_many([item, plain]) == {item.id, plain.id}
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.for_user(reader.id) == [item, plain]


def test_a_repeated_event_id_is_stored_once_within_and_across_batches(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, post = seeded["reader"], seeded["posts"][0]

    def event(event_id: str) -> Any:
        return make_interaction(user_id=reader.id, post_id=post.id, event_id=event_id)

    first = [event("e1"), event("e1"), event("e2")]
    with uow_factory() as uow:
        assert uow.interactions.add_many(first) == {first[0].id, first[2].id}
        uow.commit()
    second = [event("e2"), event("e3")]
    with uow_factory() as uow:
        assert uow.interactions.add_many(second) == {second[1].id}
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.interactions.for_user(reader.id)) == 3


def test_interactions_of_unknown_users_or_posts_are_left_out_and_the_rest_stored(
    uow_factory: UowFactory,
) -> None:
    seeded = _seed(uow_factory)
    reader, post = seeded["reader"], seeded["posts"][0]
    good = make_interaction(user_id=reader.id, post_id=post.id)
    stranger = make_interaction(user_id=uuid.uuid4(), post_id=post.id)
    lost_post = make_interaction(user_id=reader.id, post_id=uuid.uuid4())
    with uow_factory() as uow:
        assert uow.interactions.add_many([stranger, good, lost_post]) == {good.id}
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.for_user(reader.id) == [good]


def test_engagement_sums_weights_per_post_since_a_time(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    interactions = [
        make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.VIEW),
        make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.SHARE),
        make_interaction(user_id=reader.id, post_id=posts[1].id, created_at=BASE_TIME - timedelta(days=9)),
    ]
    with uow_factory() as uow:
        uow.interactions.add_many(interactions)
        uow.commit()
    with uow_factory() as uow:
        engagement = uow.interactions.engagement_since(
            BASE_TIME - timedelta(days=1), {"view": 1, "share": 10}
        )
    assert [(e.post_id, e.author_id, e.post_created_at, e.weight) for e in engagement] == [
        (posts[0].id, seeded["author"].id, posts[0].created_at, 11.0)
    ]


def test_stored_recommendations_are_fresh_until_they_expire(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    user, posts = seeded["reader"], seeded["posts"]
    recs = [
        Recommendation(posts[1].id, 0.9, Reason.COLLABORATIVE_FILTERING),
        Recommendation(posts[0].id, 0.4, Reason.TRENDING),
    ]
    expires = BASE_TIME + timedelta(hours=1)
    with uow_factory() as uow:
        uow.recommendations.replace_for_user(
            user.id, recs, model_version="v1", generated_at=BASE_TIME, expires_at=expires
        )
        uow.commit()
    with uow_factory() as uow:
        assert _stored(uow, user.id, BASE_TIME, "v1") == recs
        assert _stored(uow, user.id, BASE_TIME, "v2") == []
        assert _stored(uow, user.id, expires, "v1") == []


def test_replacing_recommendations_upserts_and_drops_the_rest(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    user, posts = seeded["reader"], seeded["posts"]
    first = [Recommendation(p.id, 0.5, Reason.TRENDING) for p in posts]
    second = [
        Recommendation(posts[2].id, 0.8, Reason.CONTENT_SIMILARITY),
        Recommendation(posts[0].id, 0.1, Reason.RECENCY),
    ]
    expires = BASE_TIME + timedelta(hours=1)
    with uow_factory() as uow:
        uow.recommendations.replace_for_user(
            user.id, first, model_version="v1", generated_at=BASE_TIME, expires_at=expires
        )
        uow.recommendations.replace_for_user(
            user.id, second, model_version="v2", generated_at=BASE_TIME, expires_at=expires
        )
        uow.commit()
    with uow_factory() as uow:
        assert _stored(uow, user.id, BASE_TIME, "v2") == second


def test_expired_recommendations_are_deleted(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    user, post = seeded["reader"], seeded["posts"][0]
    with uow_factory() as uow:
        uow.recommendations.replace_for_user(
            user.id,
            [Recommendation(post.id, 0.5, Reason.TRENDING)],
            model_version="v1",
            generated_at=BASE_TIME,
            expires_at=BASE_TIME + timedelta(minutes=5),
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.recommendations.delete_expired(BASE_TIME) == 0
        assert uow.recommendations.delete_expired(BASE_TIME + timedelta(minutes=5)) == 1
        uow.commit()
    with uow_factory() as uow:
        assert _stored(uow, user.id, BASE_TIME, "v1") == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_nothing_is_kept_without_a_commit(backend: str, request: pytest.FixtureRequest) -> None:
    # The in-memory fake applies writes at once; unit tests assert on uow.committed instead.
    user = make_user()
    with rolled_back_uow_factory(request.getfixturevalue(f"{backend}_engine")) as uow_factory:
        with uow_factory() as uow:
            uow.users.add_many([user])
        with uow_factory() as uow:
            assert uow.users.get(user.id) is None


def test_seen_post_ids_are_every_post_the_user_touched(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    with uow_factory() as uow:
        uow.interactions.add_many(
            [make_interaction(user_id=reader.id, post_id=p.id) for p in (posts[0], posts[0], posts[2])]
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.seen_post_ids(reader.id) == {posts[0].id, posts[2].id}
        assert uow.interactions.seen_post_ids(seeded["author"].id) == set()


def test_seen_among_names_only_the_asked_posts_the_user_touched(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    with uow_factory() as uow:
        uow.interactions.add_many([make_interaction(user_id=reader.id, post_id=p.id) for p in posts[:2]])
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.seen_among(reader.id, [posts[1].id, posts[2].id]) == {posts[1].id}
        assert uow.interactions.seen_among(reader.id, []) == set()
        assert uow.interactions.seen_among(seeded["author"].id, [p.id for p in posts]) == set()


def test_history_is_post_kind_and_time_oldest_first(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    reader, posts = seeded["reader"], seeded["posts"]
    late = make_interaction(user_id=reader.id, post_id=posts[0].id, kind=InteractionType.LIKE)
    early = make_interaction(
        user_id=reader.id, post_id=posts[1].id, created_at=late.created_at - timedelta(minutes=5)
    )
    with uow_factory() as uow:
        uow.interactions.add_many([late, early])
        uow.commit()
    with uow_factory() as uow:
        assert uow.interactions.history(reader.id) == [
            HistoryItem(posts[1].id, early.kind, early.created_at),
            HistoryItem(posts[0].id, InteractionType.LIKE, late.created_at),
        ]


def test_a_fresh_list_is_the_stored_rows_in_rank_order_until_they_expire(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    user, posts = seeded["reader"], seeded["posts"]
    recs = [Recommendation(p.id, 0.9 - 0.1 * i, Reason.COLLABORATIVE_FILTERING) for i, p in enumerate(posts)]
    expires = BASE_TIME + timedelta(hours=1)
    with uow_factory() as uow:
        assert uow.recommendations.fresh_list(user.id, "v1", BASE_TIME) is None
        uow.recommendations.replace_for_user(
            user.id, recs, model_version="v1", generated_at=BASE_TIME, expires_at=expires
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.recommendations.fresh_list(user.id, "v1", BASE_TIME) == StoredList(
            "v1", BASE_TIME, expires, tuple(recs)
        )
        assert uow.recommendations.fresh_list(user.id, "v2", BASE_TIME) is None
        assert uow.recommendations.fresh_list(user.id, "v1", expires) is None


def test_generated_at_tells_when_the_fresh_list_was_made(uow_factory: UowFactory) -> None:
    seeded = _seed(uow_factory)
    user, posts = seeded["reader"], seeded["posts"]
    recs = [Recommendation(p.id, 0.5, Reason.TRENDING) for p in posts]
    later = BASE_TIME + timedelta(minutes=5)
    expires = BASE_TIME + timedelta(hours=1)
    with uow_factory() as uow:
        assert uow.recommendations.generated_at(user.id, "v1", BASE_TIME) is None
        for generated_at in (BASE_TIME, later):  # the second list replaces the first
            uow.recommendations.replace_for_user(
                user.id, recs, model_version="v1", generated_at=generated_at, expires_at=expires
            )
        uow.commit()
    with uow_factory() as uow:
        assert uow.recommendations.generated_at(user.id, "v1", BASE_TIME) == later
        assert uow.recommendations.generated_at(user.id, "v2", BASE_TIME) is None
        assert uow.recommendations.generated_at(user.id, "v1", expires) is None
