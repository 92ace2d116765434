"""Track interactions: store every valid item, report each invalid one, lose nothing valid."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
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

EventKey = tuple[UUID, str]


class TrackInteractions:
    """Stores valid items in one statement; an unknown post is rejected per item, and an event id
    the user sent before is a duplicate (the same event again) or a conflict (another event).

    The store skips items whose post does not exist or whose user and event id it holds, so a
    batch of good items costs one statement; only items that were not stored are looked into.
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
        keys = {(i.user_id, i.event_id) for i in missed if i.event_id is not None}
        found = await self._interactions.with_event_ids(keys) if keys else []
        earlier = {(i.user_id, i.event_id): i for i in found if i.event_id is not None}
        # A retry of what is stored needs no more reads; anything else is explained below.
        unexplained = [i for i in missed if not _is_repeat(i, earlier)]
        users: set[UUID] = set()
        posts: set[UUID] = set()
        if unexplained:
            users = await self._users.existing_ids(i.user_id for i in unexplained)
            posts = await self._posts.existing_ids(i.post_id for i in unexplained)
        return batch.result(stored, missed, earlier, users, posts)


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
        self,
        stored: set[UUID],
        missed: list[InteractionInput],
        earlier: Mapping[EventKey, Interaction],
        users: set[UUID],
        posts: set[UUID],
    ) -> TrackingResult:
        rejected = list(self.rejected)
        conflicts: list[RejectedItem] = []
        duplicates = 0
        for item in missed:
            first = _first(item, earlier)
            differs = None if first is None else _differing_field(item, first)
            if first is not None and differs is None:
                duplicates += 1  # the same event, stored before or earlier in this batch
            elif item.post_id not in posts:
                rejected.append(RejectedItem(item.index, f"unknown post {item.post_id}", "post_id"))
            elif item.user_id not in users:  # created as it was stored, unless erased meanwhile
                rejected.append(RejectedItem(item.index, f"unknown user {item.user_id}", "user_id"))
            elif differs is not None:
                error = f"already tracked for this user with another {differs}"
                conflicts.append(RejectedItem(item.index, error, "event_id"))
            else:
                duplicates += 1  # stored by an earlier attempt of the same statement
        return TrackingResult(len(stored), duplicates, sorted(rejected, key=lambda r: r.index), conflicts)


def _first(item: InteractionInput, earlier: Mapping[EventKey, Interaction]) -> Interaction | None:
    return earlier.get((item.user_id, item.event_id)) if item.event_id is not None else None


def _is_repeat(item: InteractionInput, earlier: Mapping[EventKey, Interaction]) -> bool:
    first = _first(item, earlier)
    return first is not None and _differing_field(item, first) is None


def _differing_field(item: InteractionInput, first: Interaction) -> str | None:
    """What makes `item` another event than `first`, stored under its user and event id: the post,
    the type or the metadata (as JSON values). Not the time: the server's stands in for a missing
    or future one, so two deliveries of one event may differ in it."""
    if item.post_id != first.post_id:
        return "post_id"
    if item.kind != first.kind:
        return "interaction_type"
    if _json_value(item.metadata) != _json_value(first.metadata):
        return "metadata"
    return None


def _json_value(value: Any) -> Any:
    """`value` in a form equal exactly when the JSON values are: a number by its value, as
    PostgreSQL's jsonb keeps it (1, 1.0 and 1e0 are one number), and true is not 1."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


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
