"""Pure ranking rules shared by serving and training."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from app.domain.entities import PostEngagement, RankedPosts, Reason, Recommendation

# Hacker-News-style gravity: engagement per hour of age, so yesterday's hit yields to today's.
TRENDING_GRAVITY = 1.5
TRENDING_AGE_OFFSET_HOURS = 2.0


def trending(engagements: Iterable[PostEngagement], now: datetime, limit: int) -> list[Recommendation]:
    """Posts ranked by recent weighted engagement decayed by post age; scores scaled into (0, 1]."""
    raw: list[tuple[float, str, UUID]] = []
    for e in engagements:
        age_hours = max(0.0, (now - e.post_created_at).total_seconds() / 3600.0)
        score = e.weight / (age_hours + TRENDING_AGE_OFFSET_HOURS) ** TRENDING_GRAVITY
        if score > 0:
            raw.append((score, str(e.post_id), e.post_id))
    raw.sort(key=lambda item: (-item[0], item[1]))
    if not raw:
        return []
    top = raw[0][0]
    return [Recommendation(post_id, score / top, Reason.TRENDING) for score, _, post_id in raw[:limit]]


def without(recommendations: Sequence[Recommendation], exclude: frozenset[UUID]) -> list[Recommendation]:
    """The recommendations minus excluded posts, order kept."""
    if not exclude:
        return list(recommendations)
    return [r for r in recommendations if r.post_id not in exclude]


def scroll(
    items: RankedPosts, exclude: frozenset[UUID], start: int, limit: int
) -> tuple[RankedPosts, int | None]:
    """Up to `limit` items at or after position `start` that are not excluded, and the position
    to continue from: None when no item that is not excluded is left."""
    hidden = {u.int for u in exclude}
    ids = items.ids
    taken: list[int] = []
    position = start
    while position < len(ids) and len(taken) < limit:
        if ids[position] not in hidden:
            taken.append(position)
        position += 1
    left = any(i not in hidden for i in ids[position:])
    return items.at(taken), position if left else None


def position_of(items: RankedPosts, exclude: frozenset[UUID], offset: int) -> int:
    """The position of the `offset`-th item that is not excluded (len(items) past the end)."""
    hidden = {u.int for u in exclude}
    seen = 0
    for position, post_id in enumerate(items.ids):
        if post_id not in hidden:
            if seen == offset:
                return position
            seen += 1
    return len(items)
