"""What the use cases need from the serving runtime (the hot-reload slot, a database probe, the
lists a worker keeps in memory, the database work awaited on the event loop)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.entities import Interaction, StoredList
from app.domain.ports import Recommender


class ModelProvider(Protocol):
    """The model the service serves right now, swapped in the background on promotion."""

    def current(self) -> Recommender | None: ...

    @property
    def last_error(self) -> str | None:
        """Why the newest promoted model is not being served, if it failed to load."""
        ...


class DatabaseProbe(Protocol):
    def __call__(self) -> None:
        """Returns when the database answers; raises StorageUnavailable otherwise."""
        ...


class RecentLists(Protocol):
    """Stored lists this process read or computed lately, so serving one costs no page query.

    Each request still asks the database what the user has seen and whether a newer list was
    stored (`KeptListReads`), so a copy is never served past a replacement."""

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        """The user's list for this model version if one is kept and has not expired."""
        ...

    def put(self, user_id: UUID, stored: StoredList) -> None: ...

    def discard(self, user_id: UUID) -> None: ...


@dataclass(frozen=True, slots=True)
class KeptListState:
    """What the database says about a list kept in memory."""

    seen: set[UUID]
    """The list's posts the user has interacted with."""
    generated_at: datetime | None
    """When the user's stored list for the version was generated; None when none is stored."""


class KeptListReads(Protocol):
    """The one read a page of a kept list needs, awaited on the event loop: a cached feed page
    then needs no worker thread."""

    async def state(
        self, user_id: UUID, model_version: str, now: datetime, post_ids: Sequence[UUID]
    ) -> KeptListState:
        """Raises StorageUnavailable when the database does not answer in bounded time."""
        ...


class InteractionWrites(Protocol):
    """Tracking's database work, awaited on the event loop: a batch then needs no worker thread.

    Each call stands alone; a batch is stored by one call, so it is stored whole or not at all."""

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        """Stores those whose user and post exist, each event id once (a retried delivery, or a
        repeat within the batch, is not stored again); returns the ids of those stored.

        Raises StorageUnavailable when the database does not answer in bounded time."""
        ...

    async def existing(
        self, user_ids: Iterable[UUID], post_ids: Iterable[UUID]
    ) -> tuple[set[UUID], set[UUID]]:
        """The users and the posts among these that exist."""
        ...
