from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from app.application.dto import GenerateRecommendationsCommand, Source
from app.domain.entities import InteractionType, RankedPosts, Reason, Recommendation, StoredList
from app.infrastructure.kept_lists import InMemoryKeptLists
from tests.builders import make_post, make_user
from tests.fakes import (
    FakeRecommender,
)
from tests.unit.conftest import World

pytestmark = pytest.mark.anyio

WEIGHTS = {"view": 1.0, "click": 2.0, "like": 5.0, "share": 10.0}


def _ids(recommendations: Iterable[Recommendation]) -> list[UUID]:
    return [r.post_id for r in recommendations]


async def test_a_user_without_history_gets_trending_posts(world: World) -> None:
    other = make_user()
    await world.stores.users.add_many([other])
    await world.interact(other, world.posts[3], InteractionType.SHARE)
    result = await world.use_case(FakeRecommender(world.scores())).execute(
        GenerateRecommendationsCommand(world.reader.id, limit=5)
    )
    assert result.source is Source.COLD_START
    assert _ids(result.recommendations) == [world.posts[3].id]
    assert result.recommendations[0].reason is Reason.TRENDING


async def test_an_unknown_user_gets_cold_start_recommendations_not_an_error(world: World) -> None:
    await world.interact(world.reader, world.posts[0], InteractionType.LIKE)
    result = await world.use_case(None).execute(GenerateRecommendationsCommand(make_user().id, limit=5))
    assert result.source is Source.COLD_START
    assert _ids(result.recommendations) == [world.posts[0].id]
    assert result.model_version is None


async def test_a_user_with_history_gets_model_results_without_own_or_seen_posts(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    result = await world.use_case(FakeRecommender(world.scores())).execute(
        GenerateRecommendationsCommand(world.reader.id, limit=10)
    )
    assert result.source is Source.MODEL
    assert _ids(result.recommendations) == [p.id for p in world.posts[1:]]
    assert result.total == 4
    assert result.model_version == "v1"


async def test_seen_posts_are_included_when_asked(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    result = await world.use_case(FakeRecommender(world.scores())).execute(
        GenerateRecommendationsCommand(world.reader.id, limit=10, exclude_seen=False)
    )
    returned = _ids(result.recommendations)
    assert returned[0] == world.posts[0].id
    assert world.own.id not in returned


async def test_computed_results_are_stored_and_served_from_the_stored_list_next_time(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()))
    first = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    now = world.clock.now()
    (saved,) = world.writer.saved
    assert (saved.user_id, saved.model_version, saved.generated_at) == (world.reader.id, "v1", now)
    assert saved.expires_at == now + timedelta(minutes=60)
    assert _ids(saved.items) == [p.id for p in world.posts[1:]]  # the whole list, not the page
    second = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    assert second.source is Source.STORED
    assert second.recommendations == first.recommendations


async def test_a_post_seen_after_the_list_was_stored_is_filtered_out_at_once(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()))
    first = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    await world.interact(world.reader, world.posts[1])
    second = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    assert first.recommendations[0].post_id == world.posts[1].id
    assert second.source is Source.STORED
    assert world.posts[1].id not in _ids(second.recommendations)


async def test_stored_lists_expire_after_the_ttl(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()), ttl_minutes=10)
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    world.clock.advance(minutes=9)
    assert (await use_case.execute(GenerateRecommendationsCommand(world.reader.id))).source is Source.STORED
    world.clock.advance(minutes=2)
    assert (await use_case.execute(GenerateRecommendationsCommand(world.reader.id))).source is Source.MODEL


async def test_cold_start_lists_are_not_stored(world: World) -> None:
    kept = InMemoryKeptLists(max_users=100)
    result = await world.use_case(FakeRecommender(world.scores()), kept=kept).execute(
        GenerateRecommendationsCommand(world.reader.id)
    )
    assert result.source is Source.COLD_START
    assert (world.writer.saved, world.stores.lists.rows, len(kept)) == ([], {}, 0)


async def test_offset_pages_do_not_overlap_and_cover_the_list(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()))
    ids = []
    for offset in (0, 2, 4):
        page = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=2, offset=offset))
        ids += _ids(page.recommendations)
    assert ids == [p.id for p in world.posts[1:]]


async def test_posts_the_feed_already_shows_are_excluded(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    shown = frozenset({world.posts[1].id})
    result = await world.use_case(FakeRecommender(world.scores())).execute(
        GenerateRecommendationsCommand(world.reader.id, exclude_post_ids=shown)
    )
    assert _ids(result.recommendations) == [p.id for p in world.posts[2:]]


async def test_without_a_model_a_user_with_history_still_gets_trending(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    other = make_user()
    await world.stores.users.add_many([other])
    await world.interact(other, world.posts[2], InteractionType.LIKE)
    result = await world.use_case(None).execute(GenerateRecommendationsCommand(world.reader.id))
    assert result.source is Source.COLD_START
    assert _ids(result.recommendations) == [world.posts[2].id]


class ExplodingRecommender(FakeRecommender):
    def recommend(self, query: Any) -> Any:
        raise IndexError("a bug inside the model")


async def test_a_model_that_raises_degrades_the_answer_to_trending_which_is_not_stored(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    other = make_user()
    await world.stores.users.add_many([other])
    await world.interact(other, world.posts[2], InteractionType.LIKE)
    result = await world.use_case(ExplodingRecommender({})).execute(
        GenerateRecommendationsCommand(world.reader.id)
    )
    assert result.source is Source.COLD_START
    assert _ids(result.recommendations) == [world.posts[2].id]
    assert world.writer.saved == []


async def test_only_posts_newer_than_the_model_are_passed_as_new_posts(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender(world.scores())
    model.trained_at = world.clock.now() - timedelta(hours=2, minutes=30)
    await world.use_case(model).execute(GenerateRecommendationsCommand(world.reader.id))
    new = {p.id for p in model.queries[-1].new_posts}
    assert new == {world.posts[0].id, world.posts[1].id, world.own.id}


async def test_posts_newer_than_the_model_are_reread_once_the_cached_list_is_ten_seconds_old(
    world: World,
) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender(world.scores())
    model.trained_at = world.clock.now() - timedelta(minutes=30)
    use_case = world.use_case(model)
    seen_too = GenerateRecommendationsCommand(world.reader.id, exclude_seen=False)  # computed every time
    await use_case.execute(seen_too)
    assert model.queries[-1].new_posts == []
    newer = make_post(author_id=world.author.id, created_at=world.clock.now())
    await world.stores.posts.add_many([newer])

    world.clock.advance(seconds=9)
    await use_case.execute(seen_too)
    assert model.queries[-1].new_posts == []

    world.clock.advance(seconds=1)
    await use_case.execute(seen_too)
    assert [p.id for p in model.queries[-1].new_posts] == [newer.id]


async def test_a_stored_list_seen_to_the_end_is_computed_anew(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender({p.id: 0.5 for p in world.posts[1:3]})
    use_case = world.use_case(model)
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    for post in world.posts[1:3]:
        await world.interact(world.reader, post)
    model.scores[world.posts[4].id] = 0.4
    result = await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    assert result.source is Source.MODEL
    assert _ids(result.recommendations) == [world.posts[4].id]
    assert _ids(world.stores.lists.rows[world.reader.id].items) == [world.posts[4].id]


async def test_a_kept_list_is_served_without_reading_the_stored_list_again(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()))
    first = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    world.stores.lists.rows.clear()  # a read would find nothing now
    second = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=3))
    assert second.source is Source.STORED
    assert second.recommendations == first.recommendations


async def test_a_kept_list_is_paged_without_what_was_seen_a_moment_ago(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()))
    computed = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=10))
    await world.interact(world.reader, world.posts[2])

    page = await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=2, offset=1))

    assert page.source is Source.STORED
    assert _ids(page.recommendations) == [world.posts[3].id, world.posts[4].id]
    assert page.total == computed.total - 1
    assert page.model_version == "v1"


async def test_a_page_of_a_kept_list_agrees_with_one_read_from_the_database(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender(world.scores())
    keeping, reading = world.use_case(model), world.use_case(model, kept=InMemoryKeptLists(0))
    await keeping.execute(GenerateRecommendationsCommand(world.reader.id))
    await world.interact(world.reader, world.posts[1])
    command = GenerateRecommendationsCommand(
        world.reader.id, limit=2, exclude_post_ids=frozenset({world.posts[2].id})
    )

    kept, read = await keeping.execute(command), await reading.execute(command)

    assert (kept.source, read.source) == (Source.STORED, Source.STORED)
    assert kept == read


async def test_a_list_replaced_in_the_database_is_served_on_the_next_request(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender(world.scores())
    use_case = world.use_case(model)
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    world.clock.advance(seconds=1)
    replacement = await world.store_list(model.version, world.posts[4])

    reread = await use_case.execute(GenerateRecommendationsCommand(world.reader.id))

    assert reread.source is Source.STORED
    assert list(reread.recommendations) == replacement


async def test_a_list_replaced_in_the_database_is_kept_in_place_of_the_old_one(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    model = FakeRecommender(world.scores())
    use_case = world.use_case(model)
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    world.clock.advance(seconds=1)
    replacement = await world.store_list(model.version, world.posts[4])
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    world.stores.lists.rows.clear()  # only the kept copy can answer now

    again = await use_case.execute(GenerateRecommendationsCommand(world.reader.id))

    assert again.source is Source.STORED
    assert list(again.recommendations) == replacement


async def test_a_kept_list_newer_than_the_stored_one_stands_until_it_is_written(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    kept = InMemoryKeptLists(max_users=100)
    use_case = world.use_case(FakeRecommender(world.scores()), kept=kept)
    await world.store_list("v1", world.posts[4])
    world.clock.advance(seconds=1)
    now = world.clock.now()
    # This worker computed a list a moment ago, and the writer has not stored it yet.
    newer = RankedPosts([Recommendation(world.posts[3].id, 0.6, Reason.COLLABORATIVE_FILTERING)])
    kept.put(StoredList(world.reader.id, "v1", now, now + timedelta(minutes=60), newer))

    result = await use_case.execute(GenerateRecommendationsCommand(world.reader.id))

    assert result.source is Source.STORED
    assert list(result.recommendations) == list(newer)


async def test_without_kept_lists_every_request_reads_the_stored_list(world: World) -> None:
    await world.interact(world.reader, world.posts[0])
    use_case = world.use_case(FakeRecommender(world.scores()), kept=InMemoryKeptLists(0))
    await use_case.execute(GenerateRecommendationsCommand(world.reader.id))
    assert (await use_case.execute(GenerateRecommendationsCommand(world.reader.id))).source is Source.STORED
    world.stores.lists.rows.clear()
    assert (await use_case.execute(GenerateRecommendationsCommand(world.reader.id))).source is Source.MODEL


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("seen posts are asked for", Source.MODEL),
        ("the user has seen it to the end", Source.MODEL),
        ("no model is loaded", Source.COLD_START),
        ("stored lists have no ttl", Source.MODEL),
    ],
)
async def test_a_stored_list_is_not_served_when(world: World, case: str, expected: Source) -> None:
    await world.interact(world.reader, world.posts[0])
    await world.store_list("v1", *world.posts[1:3])
    if case == "the user has seen it to the end":
        for post in world.posts[1:3]:
            await world.interact(world.reader, post)
    model = None if case == "no model is loaded" else FakeRecommender(world.scores())
    use_case = world.use_case(model, ttl_minutes=0 if case == "stored lists have no ttl" else 60)
    command = GenerateRecommendationsCommand(world.reader.id, exclude_seen=case != "seen posts are asked for")

    assert (await use_case.execute(command)).source is expected
