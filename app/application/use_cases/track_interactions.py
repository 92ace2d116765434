"""Track interactions: store every valid item, report each invalid one, lose nothing valid."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.application.dto import (
    InteractionInput,
    RejectedItem,
    TrackingResult,
    TrackInteractionsCommand,
)
from app.domain.entities import Interaction
from app.domain.ports import Clock, UnitOfWorkFactory
from app.shared.ids import uuid7

# Client clocks drift; an event further in the future than this is a bug, not drift.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class TrackInteractions:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def execute(self, command: TrackInteractionsCommand) -> TrackingResult:
        """Stores valid items in one transaction; unknown users or posts are rejected per item."""
        now = self._clock.now()
        rejected = list(command.already_rejected)
        with self._uow_factory() as uow:
            users = uow.users.existing_ids(i.user_id for i in command.items)
            posts = uow.posts.existing_ids(i.post_id for i in command.items)
            valid: list[Interaction] = []
            for item in command.items:
                problem = _problem(item, users, posts, now)
                if problem:
                    rejected.append(RejectedItem(item.index, problem[1], problem[0]))
                else:
                    valid.append(_to_interaction(item, now))
            stored, duplicates = uow.interactions.add_many(valid) if valid else (0, 0)
            uow.commit()
        return TrackingResult(stored, duplicates, sorted(rejected, key=lambda r: r.index))


def _problem(
    item: InteractionInput, users: set[uuid.UUID], posts: set[uuid.UUID], now: datetime
) -> tuple[str, str] | None:
    if item.user_id not in users:
        return "user_id", f"unknown user {item.user_id}"
    if item.post_id not in posts:
        return "post_id", f"unknown post {item.post_id}"
    if item.created_at is not None and item.created_at > now + MAX_CLOCK_SKEW:
        return "created_at", "created_at is in the future"
    return None


def _to_interaction(item: InteractionInput, now: datetime) -> Interaction:
    return Interaction(
        id=uuid7(),
        user_id=item.user_id,
        post_id=item.post_id,
        kind=item.kind,
        created_at=item.created_at or now,
        metadata=dict(item.metadata),
        event_id=item.event_id,
    )
