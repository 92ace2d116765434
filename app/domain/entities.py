"""Plain domain entities: no framework, no persistence."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class InteractionType(StrEnum):
    VIEW = "view"
    CLICK = "click"
    LIKE = "like"
    SHARE = "share"


DEFAULT_INTERACTION_WEIGHTS: Mapping[InteractionType, float] = {
    InteractionType.VIEW: 1.0,
    InteractionType.CLICK: 2.0,
    InteractionType.LIKE: 5.0,
    InteractionType.SHARE: 10.0,
}


class Reason(StrEnum):
    """Why a post was recommended: the component that contributed most to its score."""

    COLLABORATIVE_FILTERING = "collaborative_filtering"
    CONTENT_SIMILARITY = "content_similarity"
    RECENCY = "recency"
    TRENDING = "trending"
    NEW_POST = "new_post"


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    username: str
    display_name: str
    follower_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Post:
    id: UUID
    author_id: UUID
    content: str
    created_at: datetime
    topic: str | None = None
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Interaction:
    id: UUID
    user_id: UUID
    post_id: UUID
    kind: InteractionType
    created_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """What ranking reads of one interaction: which post, how, and when."""

    post_id: UUID
    kind: InteractionType
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One ranked post for a user; score is always a finite number in [0, 1]."""

    post_id: UUID
    score: float
    reason: Reason

    def __post_init__(self) -> None:
        if not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"score must be in [0, 1], got {self.score!r}")


@dataclass(frozen=True, slots=True)
class StoredList:
    """A user's ranked list as stored with a TTL: every page is cut from it until it expires.

    A worker keeps recent ones in memory ("kept lists"); the database holds them all ("stored")."""

    user_id: UUID
    model_version: str
    generated_at: datetime
    expires_at: datetime
    items: tuple[Recommendation, ...]


@dataclass(frozen=True, slots=True)
class ServedList:
    """A ranked list as served to a client, kept so a cursor continues it page after page: pages
    are cut from `items` by position, so posts excluded later drop out without shifting the rest."""

    id: UUID
    user_id: UUID
    model_version: str | None
    source: str
    expires_at: datetime
    items: tuple[Recommendation, ...]


@dataclass(frozen=True, slots=True)
class PostEngagement:
    """Weighted engagement a post received inside a time window (read model for trending)."""

    post_id: UUID
    author_id: UUID
    post_created_at: datetime
    weight: float
