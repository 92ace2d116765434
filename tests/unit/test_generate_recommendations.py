from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.application.dto import GenerateRecommendationsCommand, Source
from app.application.use_cases.generate_recommendations import GenerateRecommendations, RankingPolicy
from app.application.use_cases.trending import TrendingPosts
from app.domain.entities import InteractionType, Reason, Recommendation
from app.infrastructure.recent_lists import RecentLists
from tests.builders import make_interaction, make_post, make_user
from tests.fakes import (
    FakeModelProvider,
    FakeRecommender,
    FixedClock,
    InMemoryKeptListReads,
    InMemoryRecommendationCache,
    InMemoryUnitOfWorkFactory,
)

WEIGHTS = {"view": 1.0, "click": 2.0, "like": 5.0, "share": 10.0}


@pytest.fixture
def world() -> dict[str, Any]:
    clock = FixedClock()
    uows = InMemoryUnitOfWorkFactory()
    reader, author = make_user(), make_user()
    posts = [
        make_post(author_id=author.id, created_at=clock.now() - timedelta(hours=i + 1)) for i in range(5)
    ]
    own = make_post(author_id=reader.id, created_at=clock.now() - timedelta(hours=1))
    uows.store.users.add_many([reader, author])
    uows.store.posts.add_many([*posts, own])
    return {"clock": clock, "uows": uows, "reader": reader, "author": author, "posts": posts, "own": own}


def _use_case(
    world: dict[str, Any],
    model: FakeRecommender | None,
    ttl_minutes: int = 60,
    recent: RecentLists | None = None,
    kept_reads: InMemoryKeptListReads | None = None,
) -> GenerateRecommendations:
    trending = TrendingPosts(
        world["uows"], world["clock"], weights=WEIGHTS, window=timedelta(hours=72), cache_seconds=0
    )
    policy = RankingPolicy(ttl=timedelta(minutes=ttl_minutes), top_n=50)
    cache = InMemoryRecommendationCache(world["uows"].store)
    if recent is None:
        recent = RecentLists(max_users=100)
    return GenerateRecommendations(
        world["uows"],
        FakeModelProvider(model),
        trending,
        cache,
        recent,
        world["clock"],
        policy,
        kept_reads=kept_reads,
    )


def _interact(
    world: dict[str, Any], user: Any, post: Any, kind: InteractionType = InteractionType.VIEW
) -> None:
    world["uows"].store.interactions.add_many(
        [make_interaction(user_id=user.id, post_id=post.id, kind=kind, created_at=world["clock"].now())]
    )


def _scores(world: dict[str, Any]) -> dict[Any, float]:
    posts = world["posts"]
    table = {p.id: 0.9 - 0.1 * i for i, p in enumerate(posts)}
    table[world["own"].id] = 1.0
    return table


def test_a_user_without_history_gets_trending_posts(world: dict[str, Any]) -> None:
    other = make_user()
    world["uows"].store.users.add_many([other])
    _interact(world, other, world["posts"][3], InteractionType.SHARE)
    result = _use_case(world, FakeRecommender(_scores(world))).execute(
        GenerateRecommendationsCommand(world["reader"].id, limit=5)
    )
    assert result.source is Source.COLD_START
    assert [r.post_id for r in result.recommendations] == [world["posts"][3].id]
    assert result.recommendations[0].reason.value == "trending"


def test_an_unknown_user_gets_cold_start_recommendations_not_an_error(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0], InteractionType.LIKE)
    result = _use_case(world, None).execute(GenerateRecommendationsCommand(make_user().id, limit=5))
    assert result.source is Source.COLD_START
    assert [r.post_id for r in result.recommendations] == [world["posts"][0].id]
    assert result.model_version is None


def test_a_user_with_history_gets_model_results_without_own_or_seen_posts(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    result = _use_case(world, FakeRecommender(_scores(world))).execute(
        GenerateRecommendationsCommand(world["reader"].id, limit=10)
    )
    returned = [r.post_id for r in result.recommendations]
    assert result.source is Source.MODEL
    assert world["own"].id not in returned
    assert world["posts"][0].id not in returned
    assert returned == [p.id for p in world["posts"][1:]]
    assert result.total == 4
    assert result.model_version == "v1"


def test_seen_posts_are_included_when_asked(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    result = _use_case(world, FakeRecommender(_scores(world))).execute(
        GenerateRecommendationsCommand(world["reader"].id, limit=10, exclude_seen=False)
    )
    returned = [r.post_id for r in result.recommendations]
    assert returned[0] == world["posts"][0].id
    assert world["own"].id not in returned


def test_computed_results_are_stored_and_served_as_precomputed_next_time(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)))
    first = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    assert world["reader"].id in world["uows"].store.recommendations.rows
    second = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    assert second.source is Source.PRECOMPUTED
    assert second.recommendations == first.recommendations


def test_a_post_seen_after_precomputation_is_filtered_out_at_once(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)))
    first = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    _interact(world, world["reader"], world["posts"][1])
    second = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    assert first.recommendations[0].post_id == world["posts"][1].id
    assert world["posts"][1].id not in [r.post_id for r in second.recommendations]


def test_stored_rows_expire_after_the_ttl(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)), ttl_minutes=10)
    use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    world["clock"].advance(minutes=11)
    assert use_case.execute(GenerateRecommendationsCommand(world["reader"].id)).source is Source.MODEL


def test_cold_start_lists_are_not_stored(world: dict[str, Any]) -> None:
    _use_case(world, FakeRecommender(_scores(world))).execute(
        GenerateRecommendationsCommand(world["reader"].id)
    )
    assert world["uows"].store.recommendations.rows == {}


def test_offset_pages_do_not_overlap_and_cover_the_list(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)))
    pages = [
        use_case.execute(
            GenerateRecommendationsCommand(world["reader"].id, limit=2, offset=o)
        ).recommendations
        for o in (0, 2, 4)
    ]
    ids = [r.post_id for p in pages for r in p]
    assert ids == [p.id for p in world["posts"][1:]]


def test_posts_the_feed_already_shows_are_excluded(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    shown = frozenset({world["posts"][1].id})
    result = _use_case(world, FakeRecommender(_scores(world))).execute(
        GenerateRecommendationsCommand(world["reader"].id, exclude_post_ids=shown)
    )
    assert world["posts"][1].id not in [r.post_id for r in result.recommendations]


def test_without_a_model_a_user_with_history_still_gets_trending(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    other = make_user()
    world["uows"].store.users.add_many([other])
    _interact(world, other, world["posts"][2], InteractionType.LIKE)
    result = _use_case(world, None).execute(GenerateRecommendationsCommand(world["reader"].id))
    assert result.source is Source.COLD_START
    assert [r.post_id for r in result.recommendations] == [world["posts"][2].id]


class ExplodingRecommender(FakeRecommender):
    def recommend(self, query: Any) -> Any:
        raise IndexError("a bug inside the model")


def test_a_model_that_raises_degrades_the_answer_to_trending(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    other = make_user()
    world["uows"].store.users.add_many([other])
    _interact(world, other, world["posts"][2], InteractionType.LIKE)
    result = _use_case(world, ExplodingRecommender({})).execute(
        GenerateRecommendationsCommand(world["reader"].id)
    )
    assert result.source is Source.COLD_START
    assert [r.post_id for r in result.recommendations] == [world["posts"][2].id]


def test_only_posts_newer_than_the_model_are_passed_as_fresh_posts(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = FakeRecommender(_scores(world))
    model.trained_at = world["clock"].now() - timedelta(hours=2, minutes=30)
    _use_case(world, model).execute(GenerateRecommendationsCommand(world["reader"].id))
    fresh = {p.id for p in model.queries[-1].fresh_posts}
    assert fresh == {world["posts"][0].id, world["posts"][1].id, world["own"].id}


def test_a_stored_list_seen_to_the_end_is_computed_again(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = FakeRecommender({p.id: 0.5 for p in world["posts"][1:3]})
    use_case = _use_case(world, model)
    use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    for post in world["posts"][1:3]:
        _interact(world, world["reader"], post)
    model.scores[world["posts"][4].id] = 0.4
    result = use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    assert result.source is Source.MODEL
    assert [r.post_id for r in result.recommendations] == [world["posts"][4].id]


def test_a_list_kept_in_memory_is_served_without_reading_the_stored_rows(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)))
    first = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    world["uows"].store.recommendations.rows.clear()
    second = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=3))
    assert second.source is Source.PRECOMPUTED
    assert second.recommendations == first.recommendations


def _replace_stored_list(world: dict[str, Any], version: str) -> list[Recommendation]:
    """Another worker or the precompute job stores a newer list for the reader."""
    world["clock"].advance(seconds=1)
    replacement = [Recommendation(world["posts"][4].id, 0.7, Reason.CONTENT_SIMILARITY)]
    world["uows"].store.recommendations.replace_for_user(
        world["reader"].id,
        replacement,
        model_version=version,
        generated_at=world["clock"].now(),
        expires_at=world["clock"].now() + timedelta(minutes=30),
    )
    return replacement


def test_a_list_replaced_in_the_database_is_served_on_the_next_request(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = FakeRecommender(_scores(world))
    use_case = _use_case(world, model)
    use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    replacement = _replace_stored_list(world, model.version)

    reread = use_case.execute(GenerateRecommendationsCommand(world["reader"].id))

    assert reread.source is Source.PRECOMPUTED
    assert list(reread.recommendations) == replacement


def test_a_list_replaced_in_the_database_is_left_to_execute_and_read_again(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = FakeRecommender(_scores(world))
    kept_reads = InMemoryKeptListReads(world["uows"].store)
    use_case = _use_case(world, model, kept_reads=kept_reads)
    command = GenerateRecommendationsCommand(world["reader"].id)
    use_case.execute(command)
    replacement = _replace_stored_list(world, model.version)

    assert asyncio.run(use_case.execute_cached(command)) is None
    reread = use_case.execute(command)
    cached = asyncio.run(use_case.execute_cached(command))

    assert list(reread.recommendations) == replacement
    assert cached is not None
    assert list(cached.recommendations) == replacement
    assert kept_reads.calls == 2


def test_without_lists_in_memory_every_request_reads_the_stored_rows(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(world, FakeRecommender(_scores(world)), recent=RecentLists(0))
    use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    world["uows"].store.recommendations.rows.clear()
    assert use_case.execute(GenerateRecommendationsCommand(world["reader"].id)).source is Source.MODEL


def test_posts_newer_than_the_model_are_reread_once_the_cached_list_is_ten_seconds_old(
    world: dict[str, Any],
) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = FakeRecommender(_scores(world))
    model.trained_at = world["clock"].now() - timedelta(minutes=30)
    use_case = _use_case(world, model)
    seen_only = GenerateRecommendationsCommand(world["reader"].id, exclude_seen=False)
    use_case.execute(seen_only)
    assert model.queries[-1].fresh_posts == []
    newer = make_post(author_id=world["author"].id, created_at=world["clock"].now())
    world["uows"].store.posts.add_many([newer])

    world["clock"].advance(seconds=9)
    use_case.execute(seen_only)
    assert model.queries[-1].fresh_posts == []

    world["clock"].advance(seconds=1)
    use_case.execute(seen_only)
    assert [p.id for p in model.queries[-1].fresh_posts] == [newer.id]


def test_a_kept_list_is_paged_on_the_event_loop_without_what_was_seen_a_moment_ago(
    world: dict[str, Any],
) -> None:
    _interact(world, world["reader"], world["posts"][0])
    kept_reads = InMemoryKeptListReads(world["uows"].store)
    use_case = _use_case(world, FakeRecommender(_scores(world)), kept_reads=kept_reads)
    command = GenerateRecommendationsCommand(world["reader"].id, limit=2, offset=1)
    computed = use_case.execute(GenerateRecommendationsCommand(world["reader"].id, limit=10))
    _interact(world, world["reader"], world["posts"][2])
    opened = world["uows"].opened

    cached = asyncio.run(use_case.execute_cached(command))

    assert cached is not None
    assert cached.source is Source.PRECOMPUTED
    assert [r.post_id for r in cached.recommendations] == [world["posts"][3].id, world["posts"][4].id]
    assert cached.total == computed.total - 1
    assert cached.model_version == "v1"
    assert kept_reads.calls == 1
    assert world["uows"].opened == opened  # no unit of work: nothing but the one read ran


def test_a_cached_page_agrees_with_the_one_execute_serves(world: dict[str, Any]) -> None:
    _interact(world, world["reader"], world["posts"][0])
    use_case = _use_case(
        world, FakeRecommender(_scores(world)), kept_reads=InMemoryKeptListReads(world["uows"].store)
    )
    use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    _interact(world, world["reader"], world["posts"][1])
    command = GenerateRecommendationsCommand(
        world["reader"].id, limit=2, exclude_post_ids=frozenset({world["posts"][2].id})
    )

    cached = asyncio.run(use_case.execute_cached(command))

    assert cached == use_case.execute(command)


@pytest.mark.parametrize(
    "case", ["no list kept", "seen included", "seen to the end", "no async reads", "no model", "no ttl"]
)
def test_execute_cached_leaves_to_execute_what_it_cannot_answer_from_memory(
    world: dict[str, Any], case: str
) -> None:
    _interact(world, world["reader"], world["posts"][0])
    model = None if case == "no model" else FakeRecommender({p.id: 0.5 for p in world["posts"][1:3]})
    kept_reads = None if case == "no async reads" else InMemoryKeptListReads(world["uows"].store)
    use_case = _use_case(world, model, ttl_minutes=0 if case == "no ttl" else 60, kept_reads=kept_reads)
    if case != "no list kept":
        use_case.execute(GenerateRecommendationsCommand(world["reader"].id))
    if case == "seen to the end":
        for post in world["posts"][1:3]:
            _interact(world, world["reader"], post)
    exclude_seen = case != "seen included"

    cached = asyncio.run(
        use_case.execute_cached(GenerateRecommendationsCommand(world["reader"].id, exclude_seen=exclude_seen))
    )

    assert cached is None
