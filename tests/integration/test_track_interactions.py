"""Tracking over both databases: what a repeated event id answers depends on what was stored."""

from __future__ import annotations

from typing import Any

import pytest

from app.application.dto import InteractionInput, TrackInteractionsCommand
from app.application.use_cases.track_interactions import TrackInteractions
from app.domain.entities import InteractionType
from app.infrastructure.db.stores import Stores
from tests.fakes import FixedClock
from tests.integration.conftest import seed

pytestmark = pytest.mark.anyio

# Numbers PostgreSQL's jsonb writes back in another spelling (1e+308 as 1 and 308 zeros, 1.0 as
# 1.0, 5e-324 as 0.000…5): read back, they are still the numbers that were sent.
METADATA: dict[str, Any] = {
    "big": 1e308,
    "tiny": 5e-324,
    "whole": 1.0,
    "huge": 10**40,
    "third": 1 / 3,
    "on": True,
    "none": None,
    "nested": [{"x": 0.1, "y": "ü✓"}, []],
}


async def test_a_repeat_of_a_stored_event_is_a_duplicate_and_another_event_a_conflict(stores: Stores) -> None:
    world = await seed(stores)
    track = TrackInteractions(
        interactions=stores.interactions, users=stores.users, posts=stores.posts, clock=FixedClock()
    )

    def item(index: int, **change: Any) -> InteractionInput:
        values: dict[str, Any] = {
            "kind": InteractionType.LIKE,
            "metadata": METADATA,
            "post_id": world.posts[0].id,
        }
        values.update(change)
        return InteractionInput(index=index, user_id=world.reader.id, event_id="evt-1", **values)

    first = await track.execute(TrackInteractionsCommand([item(0)]))
    again = await track.execute(
        TrackInteractionsCommand(
            [
                item(0),
                item(1, metadata={**METADATA, "on": 1}),
                item(2, kind=InteractionType.VIEW),
                item(3, post_id=world.posts[1].id),
            ]
        )
    )

    assert (first.accepted, again.accepted, again.duplicates, again.rejected) == (1, 0, 1, [])
    assert [(c.index, c.error) for c in again.conflicts] == [
        (1, "already tracked for this user with another metadata"),
        (2, "already tracked for this user with another interaction_type"),
        (3, "already tracked for this user with another post_id"),
    ]
    assert len(await stores.interactions.history(world.reader.id)) == 1
