"""What the use cases need from the serving runtime (the hot-reload slot, a database probe)."""

from __future__ import annotations

from typing import Protocol

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
