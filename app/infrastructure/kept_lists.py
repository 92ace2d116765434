"""The lists a worker keeps: the stored lists it served lately, bounded in number."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from uuid import UUID

from app.domain.entities import StoredList


class InMemoryKeptLists:
    """A least-recently-used map of user → stored list.

    Entries leave when the list expires, when the model version changes, when the use case finds
    a newer list stored (`discard`), or least recently used first beyond `max_users`.
    `max_users=0` keeps nothing. Used on the event loop only, so it needs no lock.
    """

    def __init__(self, max_users: int) -> None:
        self._max_users = max_users
        self._entries: OrderedDict[UUID, StoredList] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        stored = self._entries.get(user_id)
        if stored is None:
            return None
        if stored.model_version != model_version or stored.expires_at <= now:
            del self._entries[user_id]
            return None
        self._entries.move_to_end(user_id)
        return stored

    def put(self, stored: StoredList) -> None:
        if self._max_users <= 0:
            return
        self._entries[stored.user_id] = stored
        self._entries.move_to_end(stored.user_id)
        while len(self._entries) > self._max_users:
            self._entries.popitem(last=False)

    def discard(self, user_id: UUID) -> None:
        self._entries.pop(user_id, None)
