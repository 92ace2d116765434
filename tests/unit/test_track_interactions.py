from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from app.application.dto import InteractionInput, RejectedItem, TrackingResult, TrackInteractionsCommand
from app.application.use_cases.track_interactions import TrackInteractions
from app.domain.entities import InteractionType
from tests.builders import make_post, make_user
from tests.fakes import FixedClock, InMemoryInteractionWrites, InMemoryUnitOfWorkFactory


def _setup() -> tuple[InMemoryUnitOfWorkFactory, FixedClock, uuid.UUID, uuid.UUID]:
    uows, clock = InMemoryUnitOfWorkFactory(), FixedClock()
    user, post = make_user(), make_post()
    uows.store.users.add_many([user])
    uows.store.posts.add_many([post])
    return uows, clock, user.id, post.id


Track = Callable[[TrackInteractionsCommand], TrackingResult]


Tracker = Callable[[InMemoryUnitOfWorkFactory, FixedClock], Track]


@pytest.fixture(params=["worker thread", "event loop"])
def tracker(request: pytest.FixtureRequest) -> Tracker:
    """Both ways a batch is stored: through a unit of work, or awaited through `InteractionWrites`."""

    def make(uows: InMemoryUnitOfWorkFactory, clock: FixedClock) -> Track:
        if request.param == "worker thread":
            return TrackInteractions(uows, clock).execute
        use_case = TrackInteractions(uows, clock, InMemoryInteractionWrites(uows.store))
        assert use_case.runs_on_loop
        return lambda command: asyncio.run(use_case.execute_on_loop(command))

    return make


def _item(index: int, user_id: uuid.UUID, post_id: uuid.UUID, **kw: object) -> InteractionInput:
    return InteractionInput(index=index, user_id=user_id, post_id=post_id, kind=InteractionType.LIKE, **kw)  # type: ignore[arg-type]


def test_valid_items_are_stored_with_the_server_time(tracker: Tracker) -> None:
    uows, clock, user_id, post_id = _setup()
    result = tracker(uows, clock)(
        TrackInteractionsCommand([_item(0, user_id, post_id, metadata={"dwell_time_ms": 300})])
    )
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    stored = uows.store.interactions.for_user(user_id)
    assert [(i.post_id, i.kind, i.created_at, dict(i.metadata)) for i in stored] == [
        (post_id, InteractionType.LIKE, clock.now(), {"dwell_time_ms": 300})
    ]


def test_the_worker_thread_path_commits_one_unit_of_work() -> None:
    uows, clock, user_id, post_id = _setup()
    TrackInteractions(uows, clock).execute(TrackInteractionsCommand([_item(0, user_id, post_id)]))
    assert uows.opened == 1
    assert uows.last is not None
    assert uows.last.committed


def test_on_the_event_loop_a_batch_of_good_items_is_one_call_and_no_unit_of_work() -> None:
    uows, clock, user_id, post_id = _setup()
    writes = InMemoryInteractionWrites(uows.store)
    use_case = TrackInteractions(uows, clock, writes)
    command = TrackInteractionsCommand([_item(i, user_id, post_id) for i in range(3)])
    assert asyncio.run(use_case.execute_on_loop(command)).accepted == 3
    assert (writes.calls, uows.opened) == (1, 0)


def test_without_event_loop_writes_the_use_case_says_to_use_a_worker_thread() -> None:
    uows, clock, user_id, post_id = _setup()
    use_case = TrackInteractions(uows, clock)
    assert not use_case.runs_on_loop
    with pytest.raises(RuntimeError, match="worker thread"):
        asyncio.run(use_case.execute_on_loop(TrackInteractionsCommand([_item(0, user_id, post_id)])))


def test_unknown_users_and_posts_are_rejected_per_item_and_valid_ones_kept(tracker: Tracker) -> None:
    uows, clock, user_id, post_id = _setup()
    stranger, ghost = uuid.uuid4(), uuid.uuid4()
    result = tracker(uows, clock)(
        TrackInteractionsCommand(
            [_item(0, stranger, post_id), _item(1, user_id, post_id), _item(2, user_id, ghost)],
            already_rejected=[RejectedItem(3, "interaction_type: not one of view, click, like, share")],
        )
    )
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [(0, "user_id"), (2, "post_id"), (3, None)]
    assert len(uows.store.interactions.rows) == 1


def test_a_retried_delivery_with_the_same_event_id_is_stored_once(tracker: Tracker) -> None:
    uows, clock, user_id, post_id = _setup()
    track = tracker(uows, clock)
    command = TrackInteractionsCommand([_item(0, user_id, post_id, event_id="evt-1")])
    assert track(command).accepted == 1
    retry = track(command)
    assert (retry.accepted, retry.duplicates) == (0, 1)
    assert len(uows.store.interactions.rows) == 1


def test_a_timestamp_far_in_the_future_is_rejected_but_client_time_is_kept_otherwise(
    tracker: Tracker,
) -> None:
    uows, clock, user_id, post_id = _setup()
    past = clock.now() - timedelta(minutes=3)
    result = tracker(uows, clock)(
        TrackInteractionsCommand(
            [
                _item(0, user_id, post_id, created_at=clock.now() + timedelta(hours=1)),
                _item(1, user_id, post_id, created_at=past),
            ]
        )
    )
    assert [(r.index, r.field) for r in result.rejected] == [(0, "created_at")]
    assert [i.created_at for i in uows.store.interactions.rows] == [past]
