"""Each worker keeps the stored lists it served lately, bounded in number and in age."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from app.domain.entities import StoredList


class RecentLists:
    """A least-recently-used map of user → stored list.

    Entries leave when the list expires, when the model version changes, or `max_age_seconds`
    after they were loaded, so a list another worker or the precompute job replaced is picked up
    within that time. `max_users=0` keeps nothing.
    """

    def __init__(
        self,
        max_users: int,
        max_age_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_users = max_users
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[UUID, tuple[float, StoredList]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None:
                return None
            loaded_at, stored = entry
            if (
                stored.model_version != model_version
                or stored.expires_at <= now
                or self._monotonic() - loaded_at > self._max_age
            ):
                del self._entries[user_id]
                return None
            self._entries.move_to_end(user_id)
            return stored

    def put(self, user_id: UUID, stored: StoredList) -> None:
        if self._max_users <= 0:
            return
        with self._lock:
            self._entries[user_id] = (self._monotonic(), stored)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self._max_users:
                self._entries.popitem(last=False)
