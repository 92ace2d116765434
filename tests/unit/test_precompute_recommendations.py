from __future__ import annotations

from datetime import timedelta

import pytest

from app.application.use_cases.maintenance import PrecomputeRecommendations
from tests.builders import make_interaction, make_post, make_user
from tests.fakes import FakeRecommender, FixedClock, InMemoryStores


@pytest.mark.anyio
async def test_lists_are_stored_for_users_with_history_without_their_own_or_seen_posts() -> None:
    clock, stores = FixedClock(), InMemoryStores()
    readers = [make_user() for _ in range(5)]
    author, idle = make_user(), make_user()
    posts = [make_post(author_id=author.id) for _ in range(3)]
    own = make_post(author_id=readers[0].id)
    await stores.users.add_many([*readers, author, idle])
    await stores.posts.add_many([*posts, own])
    await stores.interactions.add_many([make_interaction(user_id=r.id, post_id=posts[0].id) for r in readers])
    model = FakeRecommender({p.id: 0.9 - 0.1 * i for i, p in enumerate([*posts, own])})
    use_case = PrecomputeRecommendations(
        posts=stores.posts,
        interactions=stores.interactions,
        lists=stores.lists,
        model=model,
        clock=clock,
        ttl=timedelta(hours=1),
        top_n=10,
    )
    ticks: list[int] = []

    stored = await use_case.execute([r.id for r in readers] + [idle.id], ticks.append, users_per_commit=2)

    assert stored == 5
    assert len(ticks) == 6
    assert stores.lists.transactions == 3  # six users, two per transaction
    assert set(stores.lists.rows) == {r.id for r in readers}
    mine = stores.lists.rows[readers[0].id]
    assert (mine.user_id, mine.model_version) == (readers[0].id, "v1")
    assert [r.post_id for r in mine.items] == [posts[1].id, posts[2].id]
    assert stores.lists.rows[readers[1].id].expires_at == clock.now() + timedelta(hours=1)
