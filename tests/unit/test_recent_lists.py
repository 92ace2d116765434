from __future__ import annotations

import uuid
from datetime import timedelta

from app.domain.entities import Reason, Recommendation, StoredList
from app.infrastructure.recent_lists import RecentLists
from tests.builders import BASE_TIME


def _list(version: str = "v1", minutes: int = 60) -> StoredList:
    items = (Recommendation(uuid.uuid4(), 0.5, Reason.TRENDING),)
    return StoredList(version, BASE_TIME, BASE_TIME + timedelta(minutes=minutes), items)


def test_a_kept_list_is_returned_for_its_model_version_only() -> None:
    recent, user, stored = RecentLists(10), uuid.uuid4(), _list("v1")
    recent.put(user, stored)
    assert recent.get(user, "v1", BASE_TIME) is stored
    assert recent.get(user, "v2", BASE_TIME) is None
    assert recent.get(user, "v1", BASE_TIME) is None  # a newer model dropped it


def test_an_expired_list_is_dropped() -> None:
    recent, user = RecentLists(10), uuid.uuid4()
    recent.put(user, _list(minutes=10))
    assert recent.get(user, "v1", BASE_TIME + timedelta(minutes=10)) is None
    assert len(recent) == 0


def test_a_discarded_list_is_gone_and_discarding_none_is_harmless() -> None:
    recent, user = RecentLists(10), uuid.uuid4()
    recent.put(user, _list())
    recent.discard(user)
    recent.discard(user)
    assert recent.get(user, "v1", BASE_TIME) is None


def test_the_least_recently_used_user_makes_room() -> None:
    recent = RecentLists(2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recent.put(first, _list())
    recent.put(second, _list())
    assert recent.get(first, "v1", BASE_TIME) is not None  # first is now the most recent
    recent.put(third, _list())
    assert len(recent) == 2
    assert recent.get(second, "v1", BASE_TIME) is None
    assert recent.get(first, "v1", BASE_TIME) is not None
    assert recent.get(third, "v1", BASE_TIME) is not None


def test_zero_users_keeps_nothing() -> None:
    recent, user = RecentLists(0), uuid.uuid4()
    recent.put(user, _list())
    assert recent.get(user, "v1", BASE_TIME) is None
