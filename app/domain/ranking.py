"""Pure ranking rules shared by serving and training."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from app.domain.entities import PostEngagement, Reason, Recommendation

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


def page(recommendations: Sequence[Recommendation], offset: int, limit: int) -> list[Recommendation]:
    return list(recommendations[offset : offset + limit])
