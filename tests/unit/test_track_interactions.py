from __future__ import annotations

import uuid
from datetime import timedelta

from app.application.dto import InteractionInput, RejectedItem, TrackInteractionsCommand
from app.application.use_cases.track_interactions import TrackInteractions
from app.domain.entities import InteractionType
from tests.builders import make_post, make_user
from tests.fakes import FixedClock, InMemoryUnitOfWorkFactory


def _setup() -> tuple[InMemoryUnitOfWorkFactory, FixedClock, uuid.UUID, uuid.UUID]:
    uows, clock = InMemoryUnitOfWorkFactory(), FixedClock()
    user, post = make_user(), make_post()
    uows.store.users.add_many([user])
    uows.store.posts.add_many([post])
    return uows, clock, user.id, post.id


def _item(index: int, user_id: uuid.UUID, post_id: uuid.UUID, **kw: object) -> InteractionInput:
    return InteractionInput(index=index, user_id=user_id, post_id=post_id, kind=InteractionType.LIKE, **kw)  # type: ignore[arg-type]


def test_valid_items_are_stored_with_the_server_time_and_committed() -> None:
    uows, clock, user_id, post_id = _setup()
    result = TrackInteractions(uows, clock).execute(
        TrackInteractionsCommand([_item(0, user_id, post_id, metadata={"dwell_time_ms": 300})])
    )
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    stored = uows.store.interactions.for_user(user_id)
    assert [(i.post_id, i.kind, i.created_at, dict(i.metadata)) for i in stored] == [
        (post_id, InteractionType.LIKE, clock.now(), {"dwell_time_ms": 300})
    ]
    assert uows.last is not None
    assert uows.last.committed


def test_unknown_users_and_posts_are_rejected_per_item_and_valid_ones_kept() -> None:
    uows, clock, user_id, post_id = _setup()
    stranger, ghost = uuid.uuid4(), uuid.uuid4()
    result = TrackInteractions(uows, clock).execute(
        TrackInteractionsCommand(
            [_item(0, stranger, post_id), _item(1, user_id, post_id), _item(2, user_id, ghost)],
            already_rejected=[RejectedItem(3, "interaction_type: not one of view, click, like, share")],
        )
    )
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [(0, "user_id"), (2, "post_id"), (3, None)]
    assert len(uows.store.interactions.rows) == 1


def test_a_retried_delivery_with_the_same_event_id_is_stored_once() -> None:
    uows, clock, user_id, post_id = _setup()
    use_case = TrackInteractions(uows, clock)
    command = TrackInteractionsCommand([_item(0, user_id, post_id, event_id="evt-1")])
    assert use_case.execute(command).accepted == 1
    retry = use_case.execute(command)
    assert (retry.accepted, retry.duplicates) == (0, 1)
    assert len(uows.store.interactions.rows) == 1


def test_a_timestamp_far_in_the_future_is_rejected_but_client_time_is_kept_otherwise() -> None:
    uows, clock, user_id, post_id = _setup()
    past = clock.now() - timedelta(minutes=3)
    result = TrackInteractions(uows, clock).execute(
        TrackInteractionsCommand(
            [
                _item(0, user_id, post_id, created_at=clock.now() + timedelta(hours=1)),
                _item(1, user_id, post_id, created_at=past),
            ]
        )
    )
    assert [(r.index, r.field) for r in result.rejected] == [(0, "created_at")]
    assert [i.created_at for i in uows.store.interactions.rows] == [past]
