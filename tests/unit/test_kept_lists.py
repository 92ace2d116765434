from __future__ import annotations

import uuid
from datetime import timedelta

from app.domain.entities import RankedPosts, Reason, Recommendation, StoredList
from app.infrastructure.kept_lists import InMemoryKeptLists
from tests.builders import BASE_TIME


def _list(user: uuid.UUID, version: str = "v1", minutes: int = 60) -> StoredList:
    items = RankedPosts([Recommendation(uuid.uuid4(), 0.5, Reason.TRENDING)])
    return StoredList(user, version, BASE_TIME, BASE_TIME + timedelta(minutes=minutes), items)


def test_a_kept_list_is_returned_for_its_model_version_only() -> None:
    kept, user = InMemoryKeptLists(10), uuid.uuid4()
    stored = _list(user, "v1")
    kept.put(stored)
    assert kept.get(user, "v1", BASE_TIME) is stored
    assert kept.get(user, "v2", BASE_TIME) is None
    assert kept.get(user, "v1", BASE_TIME) is None  # a newer model dropped it


def test_a_list_is_kept_for_its_own_user_only() -> None:
    kept, user = InMemoryKeptLists(10), uuid.uuid4()
    kept.put(_list(user))
    assert kept.get(uuid.uuid4(), "v1", BASE_TIME) is None
    assert kept.get(user, "v1", BASE_TIME) is not None


def test_an_expired_list_is_dropped() -> None:
    kept, user = InMemoryKeptLists(10), uuid.uuid4()
    kept.put(_list(user, minutes=10))
    assert kept.get(user, "v1", BASE_TIME + timedelta(minutes=10)) is None
    assert len(kept) == 0


def test_a_discarded_list_is_gone_and_discarding_none_is_harmless() -> None:
    kept, user = InMemoryKeptLists(10), uuid.uuid4()
    kept.put(_list(user))
    kept.discard(user)
    kept.discard(user)
    assert kept.get(user, "v1", BASE_TIME) is None


def test_the_least_recently_used_user_makes_room() -> None:
    kept = InMemoryKeptLists(2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept.put(_list(first))
    kept.put(_list(second))
    assert kept.get(first, "v1", BASE_TIME) is not None  # first is now the most recent
    kept.put(_list(third))
    assert len(kept) == 2
    assert kept.get(second, "v1", BASE_TIME) is None
    assert kept.get(first, "v1", BASE_TIME) is not None
    assert kept.get(third, "v1", BASE_TIME) is not None


def test_zero_users_keeps_nothing() -> None:
    kept, user = InMemoryKeptLists(0), uuid.uuid4()
    kept.put(_list(user))
    assert kept.get(user, "v1", BASE_TIME) is None
