from __future__ import annotations

from datetime import timedelta

from app.application.use_cases.maintenance import PrecomputeRecommendations
from tests.builders import make_interaction, make_post, make_user
from tests.fakes import FakeRecommender, FixedClock, InMemoryUnitOfWork, InMemoryUnitOfWorkFactory


def test_lists_are_stored_for_users_with_history_without_their_own_or_seen_posts() -> None:
    clock, uows = FixedClock(), InMemoryUnitOfWorkFactory()
    readers = [make_user() for _ in range(5)]
    author, idle = make_user(), make_user()
    posts = [make_post(author_id=author.id) for _ in range(3)]
    own = make_post(author_id=readers[0].id)
    uows.store.users.add_many([*readers, author, idle])
    uows.store.posts.add_many([*posts, own])
    uows.store.interactions.add_many([make_interaction(user_id=r.id, post_id=posts[0].id) for r in readers])
    model = FakeRecommender({p.id: 0.9 - 0.1 * i for i, p in enumerate([*posts, own])})
    opened: list[InMemoryUnitOfWork] = []

    def counting() -> InMemoryUnitOfWork:
        opened.append(uows())
        return opened[-1]

    use_case = PrecomputeRecommendations(counting, model, clock, ttl=timedelta(hours=1), top_n=10)
    ticks: list[int] = []

    stored = use_case.execute([r.id for r in readers] + [idle.id], ticks.append, users_per_commit=2)

    assert stored == 5
    assert len(ticks) == 6
    assert [uow.commits for uow in opened] == [1, 1, 1]  # six users, two per commit
    assert set(uows.store.recommendations.rows) == {r.id for r in readers}
    mine = [s.recommendation.post_id for s in uows.store.recommendations.rows[readers[0].id]]
    assert mine == [posts[1].id, posts[2].id]
    expiry = {s.expires_at for s in uows.store.recommendations.rows[readers[1].id]}
    assert expiry == {clock.now() + timedelta(hours=1)}
