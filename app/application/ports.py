"""What the use cases need from the serving runtime (the hot-reload slot, a database probe, the
lists a worker keeps in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.entities import StoredList
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

    A copy may lag the database by the implementation's maximum age; who has seen what is always
    asked of the database."""

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        """The user's list for this model version if one is kept and has not expired."""
        ...

    def put(self, user_id: UUID, stored: StoredList) -> None: ...


class SeenPosts(Protocol):
    """The database's answer to "which of these posts has the user seen?", awaited on the event
    loop: a cached feed page then needs no worker thread."""

    async def seen_among(self, user_id: UUID, post_ids: Sequence[UUID]) -> set[UUID]:
        """Raises StorageUnavailable when the database does not answer in bounded time."""
        ...
