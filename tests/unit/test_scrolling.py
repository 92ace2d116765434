"""Scrolling a served list with its cursor, and posts and users that leave every list at once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from app.application.dto import Cursor, GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.use_cases.generate_recommendations import GenerateRecommendations
from app.domain.entities import Post
from tests.builders import make_post
from tests.fakes import FakeRecommender
from tests.unit.conftest import World

pytestmark = pytest.mark.anyio


async def _long_list(world: World) -> tuple[GenerateRecommendations, list[Post]]:
    """Twelve posts the model ranks in order; the reader has seen one older post."""
    ranked = [
        make_post(author_id=world.author.id, created_at=world.clock.now() - timedelta(days=1))
        for _ in range(12)
    ]
    await world.stores.posts.add_many(ranked)
    scores = {p.id: 0.95 - 0.05 * i for i, p in enumerate(ranked)}
    await world.interact(world.reader, world.posts[0])
    return world.use_case(FakeRecommender(scores)), ranked


async def _page(
    use_case: GenerateRecommendations, world: World, cursor: Cursor | None = None, limit: int = 3
) -> RecommendationsResult:
    return await use_case.execute(GenerateRecommendationsCommand(world.reader.id, limit=limit, cursor=cursor))


def _ids(result: RecommendationsResult) -> list[UUID]:
    return [r.post_id for r in result.recommendations]


async def test_a_cursor_walks_the_list_to_its_end_while_every_post_shown_is_tracked(world: World) -> None:
    use_case, ranked = await _long_list(world)
    shown: list[UUID] = []
    result = await _page(use_case, world)
    first_id = result.recommendation_id
    while True:
        shown += _ids(result)
        assert result.recommendation_id == first_id
        for post_id in _ids(result):
            await world.interact(world.reader, await _post(world, post_id))
        if result.next_cursor is None:
            break
        result = await _page(use_case, world, result.next_cursor)
    assert shown == [p.id for p in ranked]


async def test_a_post_excluded_after_the_first_page_drops_out_without_shifting_the_rest(world: World) -> None:
    use_case, ranked = await _long_list(world)
    first = await _page(use_case, world)
    await world.interact(world.reader, ranked[4])  # seen elsewhere, further down the list
    second = await _page(use_case, world, first.next_cursor)
    assert _ids(second) == [ranked[3].id, ranked[5].id, ranked[6].id]
    excluded = await use_case.execute(
        GenerateRecommendationsCommand(
            world.reader.id, limit=3, cursor=second.next_cursor, exclude_post_ids=frozenset({ranked[8].id})
        )
    )
    assert _ids(excluded) == [ranked[7].id, ranked[9].id, ranked[10].id]


async def test_a_cursor_keeps_its_list_when_a_newer_list_is_stored_for_the_user(world: World) -> None:
    use_case, ranked = await _long_list(world)
    first = await _page(use_case, world)
    world.clock.advance(seconds=1)
    await world.store_list("v1", *reversed(ranked))
    second = await _page(use_case, world, first.next_cursor)
    assert _ids(second) == [p.id for p in ranked[3:6]]
    assert second.recommendation_id == first.recommendation_id
    fresh = await _page(use_case, world)
    assert _ids(fresh) == [p.id for p in reversed(ranked[-3:])]
    assert fresh.recommendation_id != first.recommendation_id


async def test_the_served_list_is_found_by_a_worker_that_never_served_it(world: World) -> None:
    use_case, ranked = await _long_list(world)
    first = await _page(use_case, world)
    other_worker = world.use_case(FakeRecommender({p.id: 0.5 for p in ranked}))
    second = await _page(other_worker, world, first.next_cursor)
    assert _ids(second) == [p.id for p in ranked[3:6]]


async def test_an_unknown_or_expired_cursor_starts_a_new_list_and_says_so(world: World) -> None:
    use_case, ranked = await _long_list(world)
    unknown = await _page(use_case, world, Cursor(uuid.uuid4(), 3))
    assert unknown.cursor_expired
    assert _ids(unknown) == [p.id for p in ranked[:3]]
    first = await _page(use_case, world)
    world.clock.advance(hours=2)  # past the cursor's hour, and the stored list's
    expired = await _page(use_case, world, first.next_cursor)
    assert expired.cursor_expired
    assert expired.recommendation_id != first.recommendation_id
    assert not (await _page(use_case, world, expired.next_cursor)).cursor_expired


async def test_another_users_cursor_is_not_honoured(world: World) -> None:
    use_case, _ = await _long_list(world)
    first = await _page(use_case, world)
    assert first.next_cursor is not None
    stranger = await use_case.execute(GenerateRecommendationsCommand(uuid.uuid4(), cursor=first.next_cursor))
    assert stranger.cursor_expired


async def test_a_list_that_fits_on_one_page_has_no_cursor_and_is_not_saved(world: World) -> None:
    use_case, _ = await _long_list(world)
    result = await _page(use_case, world, limit=50)
    assert result.next_cursor is None
    assert world.writer.served == []


async def test_a_stored_lists_served_copy_is_saved_once_however_often_its_first_page_is_asked(
    world: World,
) -> None:
    use_case, _ = await _long_list(world)
    for _ in range(3):
        result = await _page(use_case, world)
    assert [s.id for s in world.writer.served] == [result.recommendation_id]


async def test_a_deleted_post_leaves_kept_stored_and_scrolled_lists_at_once(world: World) -> None:
    use_case, ranked = await _long_list(world)
    first = await _page(use_case, world)
    assert (await _page(use_case, world)).source is Source.STORED
    await world.stores.posts.delete(ranked[1].id, world.clock.now())
    await world.stores.posts.delete(ranked[4].id, world.clock.now())
    again = await _page(use_case, world)
    assert _ids(again) == [ranked[0].id, ranked[2].id, ranked[3].id]
    second = await _page(use_case, world, first.next_cursor)
    assert _ids(second) == [ranked[3].id, ranked[5].id, ranked[6].id]


async def test_an_erased_users_kept_list_is_not_served_again(world: World) -> None:
    use_case, _ = await _long_list(world)
    first = await _page(use_case, world)
    assert first.source is Source.MODEL
    assert await world.stores.users.erase(world.reader.id, world.clock.now())
    after = await _page(use_case, world, first.next_cursor)
    assert after.cursor_expired
    assert after.source is Source.COLD_START


async def _post(world: World, post_id: UUID) -> Post:
    return world.stores.posts.rows[post_id]
