from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.application.dto import InteractionInput, RejectedItem, TrackInteractionsCommand
from app.application.use_cases.track_interactions import TrackInteractions
from app.domain.entities import InteractionType
from tests.builders import make_post, make_user
from tests.fakes import FixedClock, InMemoryStores

pytestmark = pytest.mark.anyio


async def _setup() -> tuple[InMemoryStores, FixedClock, uuid.UUID, uuid.UUID]:
    stores, clock = InMemoryStores(), FixedClock()
    user, post = make_user(), make_post()
    await stores.users.add_many([user])
    await stores.posts.add_many([post])
    return stores, clock, user.id, post.id


def _use_case(stores: InMemoryStores, clock: FixedClock) -> TrackInteractions:
    return TrackInteractions(
        interactions=stores.interactions, users=stores.users, posts=stores.posts, clock=clock
    )


def _item(index: int, user_id: uuid.UUID, post_id: uuid.UUID, **kw: object) -> InteractionInput:
    values: dict[str, object] = {"kind": InteractionType.LIKE, **kw}
    return InteractionInput(index=index, user_id=user_id, post_id=post_id, **values)  # type: ignore[arg-type]


async def test_valid_items_are_stored_with_the_server_time() -> None:
    stores, clock, user_id, post_id = await _setup()
    result = await _use_case(stores, clock).execute(
        TrackInteractionsCommand([_item(0, user_id, post_id, metadata={"dwell_time_ms": 300})])
    )
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
    stored = [i for i in stores.interactions.rows if i.user_id == user_id]
    assert [(i.post_id, i.kind, i.created_at, dict(i.metadata)) for i in stored] == [
        (post_id, InteractionType.LIKE, clock.now(), {"dwell_time_ms": 300})
    ]


async def test_a_batch_of_good_items_is_one_transaction_and_looks_nothing_up() -> None:
    stores, clock, user_id, post_id = await _setup()
    command = TrackInteractionsCommand([_item(i, user_id, post_id) for i in range(3)])
    assert (await _use_case(stores, clock).execute(command)).accepted == 3
    assert (stores.interactions.transactions, stores.users.lookups, stores.posts.lookups) == (1, 0, 0)


async def test_an_unknown_user_is_created_and_an_unknown_post_rejected_per_item() -> None:
    stores, clock, user_id, post_id = await _setup()
    stranger, ghost = uuid.uuid4(), uuid.uuid4()
    result = await _use_case(stores, clock).execute(
        TrackInteractionsCommand(
            [_item(0, stranger, post_id), _item(1, user_id, post_id), _item(2, user_id, ghost)],
            already_rejected=[RejectedItem(3, "interaction_type: not one of view, click, like, share")],
        )
    )
    assert result.accepted == 2
    assert [(r.index, r.field) for r in result.rejected] == [(2, "post_id"), (3, None)]
    assert len(stores.interactions.rows) == 2
    assert stores.users.rows[stranger].username == f"user-{stranger.hex}"


async def test_a_retried_delivery_with_the_same_event_id_is_stored_once() -> None:
    stores, clock, user_id, post_id = await _setup()
    use_case = _use_case(stores, clock)
    command = TrackInteractionsCommand([_item(0, user_id, post_id, event_id="evt-1")])
    assert (await use_case.execute(command)).accepted == 1
    retry = await use_case.execute(command)
    assert (retry.accepted, retry.duplicates) == (0, 1)
    assert len(stores.interactions.rows) == 1


async def test_a_timestamp_far_in_the_future_is_stored_at_server_time_and_client_time_kept_otherwise() -> (
    None
):
    stores, clock, user_id, post_id = await _setup()
    past = clock.now() - timedelta(minutes=3)
    result = await _use_case(stores, clock).execute(
        TrackInteractionsCommand(
            [
                _item(0, user_id, post_id, created_at=clock.now() + timedelta(hours=1)),
                _item(1, user_id, post_id, created_at=past),
            ]
        )
    )
    assert (result.accepted, result.rejected) == (2, [])
    assert [i.created_at for i in stores.interactions.rows] == [clock.now(), past]


async def test_an_event_id_is_scoped_to_its_user() -> None:
    stores, clock, user_id, post_id = await _setup()
    other = uuid.uuid4()
    result = await _use_case(stores, clock).execute(
        TrackInteractionsCommand([_item(0, user_id, post_id, event_id="evt-1")])
    )
    theirs = await _use_case(stores, clock).execute(
        TrackInteractionsCommand([_item(0, other, post_id, event_id="evt-1")])
    )
    assert (result.accepted, theirs.accepted, theirs.duplicates, theirs.conflicts) == (1, 1, 0, [])
    assert sorted(i.user_id for i in stores.interactions.rows) == sorted([user_id, other])


async def test_a_repeat_of_the_same_event_is_a_duplicate_whatever_its_time_or_number_spelling() -> None:
    stores, clock, user_id, post_id = await _setup()
    use_case = _use_case(stores, clock)
    first = _item(0, user_id, post_id, event_id="e", metadata={"dwell": 1.0, "tags": ["a"], "on": True})
    await use_case.execute(TrackInteractionsCommand([first]))
    clock.advance(minutes=1)
    retry = _item(0, user_id, post_id, event_id="e", metadata={"on": True, "tags": ["a"], "dwell": 1})
    result = await use_case.execute(TrackInteractionsCommand([retry]))
    assert (result.accepted, result.duplicates, result.conflicts, result.rejected) == (0, 1, [], [])
    assert len(stores.interactions.rows) == 1


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"post_id": "other"}, "post_id"),
        ({"kind": InteractionType.SHARE}, "interaction_type"),
        ({"metadata": {"dwell": 2}}, "metadata"),
        ({"metadata": {"dwell": True}}, "metadata"),  # true is not the number 1
        ({"metadata": {}}, "metadata"),
    ],
)
async def test_an_event_id_sent_again_for_another_event_is_a_conflict_naming_what_differs(
    change: dict[str, object], differs: str
) -> None:
    stores, clock, user_id, post_id = await _setup()
    other_post = make_post()
    await stores.posts.add_many([other_post])
    use_case = _use_case(stores, clock)
    await use_case.execute(
        TrackInteractionsCommand([_item(0, user_id, post_id, event_id="e", metadata={"dwell": 1})])
    )
    fields: dict[str, object] = {"metadata": {"dwell": 1}, "event_id": "e", **change}
    target = other_post.id if fields.pop("post_id", None) else post_id
    again = _item(0, user_id, target, **fields)
    result = await use_case.execute(TrackInteractionsCommand([again]))
    assert (result.accepted, result.duplicates, result.rejected) == (0, 0, [])
    assert [(c.index, c.field) for c in result.conflicts] == [(0, "event_id")]
    assert result.conflicts[0].error == f"already tracked for this user with another {differs}"
    assert len(stores.interactions.rows) == 1


async def test_in_one_batch_the_first_stored_item_of_an_event_id_decides() -> None:
    stores, clock, user_id, post_id = await _setup()
    other, ghost = uuid.uuid4(), uuid.uuid4()
    result = await _use_case(stores, clock).execute(
        TrackInteractionsCommand(
            [
                _item(0, user_id, ghost, event_id="e"),  # rejected: it claims nothing
                _item(1, user_id, post_id, event_id="e"),
                _item(2, user_id, post_id, event_id="e"),
                _item(3, user_id, post_id, event_id="e", kind=InteractionType.VIEW),
                _item(4, other, post_id, event_id="e", kind=InteractionType.VIEW),
            ]
        )
    )
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [(r.index, r.field) for r in result.rejected] == [(0, "post_id")]
    assert [(c.index, c.field) for c in result.conflicts] == [(3, "event_id")]
    assert sorted((i.user_id == other, i.kind) for i in stores.interactions.rows) == [
        (False, InteractionType.LIKE),
        (True, InteractionType.VIEW),
    ]


async def test_a_repeat_naming_an_unknown_post_is_rejected_not_a_conflict() -> None:
    stores, clock, user_id, post_id = await _setup()
    use_case = _use_case(stores, clock)
    await use_case.execute(TrackInteractionsCommand([_item(0, user_id, post_id, event_id="e")]))
    result = await use_case.execute(TrackInteractionsCommand([_item(0, user_id, uuid.uuid4(), event_id="e")]))
    assert ([(r.index, r.field) for r in result.rejected], result.conflicts) == ([(0, "post_id")], [])


async def test_a_retried_batch_of_stored_events_looks_up_no_user_or_post() -> None:
    stores, clock, user_id, post_id = await _setup()
    use_case = _use_case(stores, clock)
    command = TrackInteractionsCommand([_item(i, user_id, post_id, event_id=f"e{i}") for i in range(3)])
    await use_case.execute(command)
    retry = await use_case.execute(command)
    assert (retry.accepted, retry.duplicates) == (0, 3)
    assert (stores.users.lookups, stores.posts.lookups) == (0, 0)
