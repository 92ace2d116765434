"""What the use cases need from the serving runtime: the hot-reload slot, a database probe and the
lists a worker keeps in memory."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.entities import ServedList, StoredList
from app.domain.ports import Recommender


class ModelProvider(Protocol):
    """The model the service serves right now, swapped in the background on promotion."""

    def current(self) -> Recommender | None: ...

    @property
    def last_error(self) -> str | None:
        """What keeps the registry's active model, verified on disk, from being served (it failed
        to load, the registry cannot be read, the served model's file changed); None when served."""
        ...

    @property
    def loading(self) -> bool:
        """True until the first load of the active model has finished."""
        ...


class DatabaseProbe(Protocol):
    async def __call__(self) -> None:
        """Returns when the database answers; raises StorageUnavailable otherwise."""
        ...


class KeptLists(Protocol):
    """Stored lists this worker read or computed lately, kept so serving one costs no page query.

    Each request still asks the database what the user has seen and whether a newer list was
    stored (`StoredListRepository.check`), so a kept list is never served past a replacement."""

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        """The user's list for this model version if one is kept and has not expired."""
        ...

    def put(self, stored: StoredList) -> None: ...

    def discard(self, user_id: UUID) -> None: ...


class KeptServedLists(Protocol):
    """Served lists this worker handed out lately, so the next page of a cursor costs no read of
    the list."""

    def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        """The list if it is kept and has not expired."""
        ...

    def put(self, served: ServedList) -> None: ...
