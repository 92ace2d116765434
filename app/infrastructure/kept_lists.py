"""The lists a worker keeps: stored lists and served lists it handed out lately, bounded in number.
Used on the event loop only, so they need no lock."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from app.domain.entities import ServedList, StoredList


class _Expiring(Protocol):
    @property
    def expires_at(self) -> datetime: ...


V = TypeVar("V", bound=_Expiring)


class _Lru(Generic[V]):
    """Least recently used out beyond `max_entries`; an expired entry leaves when asked for.
    `max_entries=0` keeps nothing."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[UUID, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _get(self, key: UUID, now: datetime) -> V | None:
        value = self._entries.get(key)
        if value is None:
            return None
        if value.expires_at <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _put(self, key: UUID, value: V) -> None:
        if self._max_entries <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: UUID) -> None:
        self._entries.pop(key, None)


class InMemoryKeptLists(_Lru[StoredList]):
    """User → stored list. Entries also leave when the model version changes, and when the use
    case finds a newer list stored (`discard`)."""

    def __init__(self, max_users: int) -> None:
        super().__init__(max_users)

    def get(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        stored = self._get(user_id, now)
        if stored is not None and stored.model_version != model_version:
            self.discard(user_id)
            return None
        return stored

    def put(self, stored: StoredList) -> None:
        self._put(stored.user_id, stored)


class InMemoryKeptServedLists(_Lru[ServedList]):
    """List id → served list. A served list cut from a stored list shares its items, so keeping
    both costs little more."""

    def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        return self._get(list_id, now)

    def put(self, served: ServedList) -> None:
        self._put(served.id, served)
