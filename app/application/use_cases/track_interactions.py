"""Track interactions: store every valid item, report each invalid one, lose nothing valid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from app.application.dto import (
    InteractionInput,
    RejectedItem,
    TrackingResult,
    TrackInteractionsCommand,
)
from app.domain.entities import Interaction
from app.domain.ports import Clock, InteractionRepository, PostRepository, UserRepository
from app.shared.ids import uuid7

# Client clocks drift; an event further in the future than this comes from a wrong clock, and is
# stored at the server's time rather than lost.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class TrackInteractions:
    """Stores valid items in one statement; unknown users or posts are rejected per item.

    The store skips items whose user or post does not exist, so a batch of good items costs one
    statement; only items that were not stored are looked into, to say why.
    """

    def __init__(
        self,
        *,
        interactions: InteractionRepository,
        users: UserRepository,
        posts: PostRepository,
        clock: Clock,
    ) -> None:
        self._interactions = interactions
        self._users = users
        self._posts = posts
        self._clock = clock

    async def execute(self, command: TrackInteractionsCommand) -> TrackingResult:
        batch = _Batch.of(command, self._clock.now())
        stored = await self._interactions.add_many(batch.interactions) if batch.interactions else set()
        missed = batch.missed(stored)
        users: set[UUID] = set()
        posts: set[UUID] = set()
        if missed:
            users = await self._users.existing_ids(i.user_id for i in missed)
            posts = await self._posts.existing_ids(i.post_id for i in missed)
        return batch.result(stored, missed, users, posts)


@dataclass
class _Batch:
    inputs: list[InteractionInput] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)

    @classmethod
    def of(cls, command: TrackInteractionsCommand, now: datetime) -> _Batch:
        batch = cls(rejected=list(command.already_rejected))
        for item in command.items:
            batch.inputs.append(item)
            batch.interactions.append(_to_interaction(item, now))
        return batch

    def missed(self, stored: set[UUID]) -> list[InteractionInput]:
        if len(stored) == len(self.interactions):  # the usual case: every item stored
            return []
        return [item for item, i in zip(self.inputs, self.interactions, strict=True) if i.id not in stored]

    def result(
        self, stored: set[UUID], missed: list[InteractionInput], users: set[UUID], posts: set[UUID]
    ) -> TrackingResult:
        rejected = list(self.rejected)
        duplicates = 0
        for item in missed:
            if item.post_id not in posts:
                rejected.append(RejectedItem(item.index, f"unknown post {item.post_id}", "post_id"))
            elif item.user_id not in users:  # created as it was stored, unless erased meanwhile
                rejected.append(RejectedItem(item.index, f"unknown user {item.user_id}", "user_id"))
            else:
                duplicates += 1  # its event id was stored before, or earlier in this batch
        return TrackingResult(len(stored), duplicates, sorted(rejected, key=lambda r: r.index))


def _to_interaction(item: InteractionInput, now: datetime) -> Interaction:
    return Interaction(
        id=uuid7(),
        user_id=item.user_id,
        post_id=item.post_id,
        kind=item.kind,
        created_at=not_after(item.created_at, now),
        metadata=dict(item.metadata),
        event_id=item.event_id,
    )


def not_after(moment: datetime | None, now: datetime) -> datetime:
    """`moment`, or now when it is missing or further ahead than clocks drift."""
    return moment if moment is not None and moment <= now + MAX_CLOCK_SKEW else now
