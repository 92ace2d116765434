"""Track interactions: store every valid item, report each invalid one, lose nothing valid."""

from __future__ import annotations

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
        """Stores valid items in one transaction; unknown users or posts are rejected per item.

        The store skips items whose user or post does not exist, so a batch of good items costs
        one statement; only items that were not stored are looked into, to say why.
        """
        now = self._clock.now()
        rejected = list(command.already_rejected)
        candidates: list[tuple[InteractionInput, Interaction]] = []
        for item in command.items:
            if item.created_at is not None and item.created_at > now + MAX_CLOCK_SKEW:
                rejected.append(RejectedItem(item.index, "created_at is in the future", "created_at"))
            else:
                candidates.append((item, _to_interaction(item, now)))
        duplicates = 0
        with self._uow_factory() as uow:
            stored = uow.interactions.add_many([c for _, c in candidates]) if candidates else set()
            missed = [item for item, interaction in candidates if interaction.id not in stored]
            if missed:
                users = uow.users.existing_ids(i.user_id for i in missed)
                posts = uow.posts.existing_ids(i.post_id for i in missed)
                for item in missed:
                    if item.user_id not in users:
                        rejected.append(RejectedItem(item.index, f"unknown user {item.user_id}", "user_id"))
                    elif item.post_id not in posts:
                        rejected.append(RejectedItem(item.index, f"unknown post {item.post_id}", "post_id"))
                    else:
                        duplicates += 1  # its event id was stored before, or earlier in this batch
            uow.commit()
        return TrackingResult(len(stored), duplicates, sorted(rejected, key=lambda r: r.index))


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
