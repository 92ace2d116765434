"""Plain domain entities: no framework, no persistence."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, overload
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


_REASONS = tuple(Reason)
_REASON_CODES = {reason: code for code, reason in enumerate(_REASONS)}
_REASON_VALUES = tuple(reason.value for reason in _REASONS)


class RankedPosts(Sequence[Recommendation]):
    """An immutable ranked list of posts, held as three flat columns (post ids as `UUID.int`,
    scores, reason codes) instead of an object per post.

    Workers keep thousands of lists; with two objects per post (the recommendation and its UUID)
    every full garbage collection walked all of them, pausing a worker for a fifth of a second at
    4,000 lists. Tuples of numbers are not tracked by the collector. A `Recommendation` is made
    when an item is read."""

    __slots__ = ("_ids", "_reasons", "_scores")

    def __init__(self, items: Iterable[Recommendation] = ()) -> None:
        listed = tuple(items)
        self._ids = tuple(r.post_id.int for r in listed)
        self._scores = tuple(r.score for r in listed)
        self._reasons = bytes(_REASON_CODES[r.reason] for r in listed)

    @classmethod
    def from_columns(
        cls, ids: Iterable[int], scores: Iterable[float], reasons: Iterable[Reason]
    ) -> RankedPosts:
        """A list from its columns; scores must lie in [0, 1] (as a `Recommendation`'s)."""
        ranked = cls.__new__(cls)
        ranked._ids = tuple(ids)
        ranked._scores = tuple(scores)
        ranked._reasons = bytes(_REASON_CODES[r] for r in reasons)
        if not len(ranked._ids) == len(ranked._scores) == len(ranked._reasons):
            raise ValueError("ids, scores and reasons must be as long as each other")
        if not all(0.0 <= s <= 1.0 for s in ranked._scores):  # NaN fails both
            raise ValueError("scores must be in [0, 1]")
        return ranked

    @property
    def ids(self) -> tuple[int, ...]:
        """The post ids as integers (`UUID.int`), in rank order: compare with `{u.int for u in …}`."""
        return self._ids

    @property
    def scores(self) -> tuple[float, ...]:
        return self._scores

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(_REASONS[code] for code in self._reasons)

    @property
    def reason_values(self) -> tuple[str, ...]:
        return tuple(_REASON_VALUES[code] for code in self._reasons)

    def post_ids(self) -> list[UUID]:
        return [UUID(int=i) for i in self._ids]

    def at(self, positions: Sequence[int]) -> RankedPosts:
        """The items at `positions`, in that order."""
        part = RankedPosts.__new__(RankedPosts)
        part._ids = tuple(self._ids[p] for p in positions)
        part._scores = tuple(self._scores[p] for p in positions)
        part._reasons = bytes(self._reasons[p] for p in positions)
        return part

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Recommendation: ...

    @overload
    def __getitem__(self, index: slice) -> RankedPosts: ...

    def __getitem__(self, index: int | slice) -> Recommendation | RankedPosts:
        if isinstance(index, slice):
            part = RankedPosts.__new__(RankedPosts)
            part._ids, part._scores = self._ids[index], self._scores[index]
            part._reasons = self._reasons[index]
            return part
        return Recommendation(UUID(int=self._ids[index]), self._scores[index], _REASONS[self._reasons[index]])

    def __iter__(self) -> Iterator[Recommendation]:
        for i, score, code in zip(self._ids, self._scores, self._reasons, strict=True):
            yield Recommendation(UUID(int=i), score, _REASONS[code])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RankedPosts):
            return NotImplemented
        return (self._ids, self._scores, self._reasons) == (other._ids, other._scores, other._reasons)

    def __hash__(self) -> int:
        return hash((self._ids, self._scores, self._reasons))

    def __repr__(self) -> str:
        return f"RankedPosts({list(self)!r})"


@dataclass(frozen=True, slots=True)
class StoredList:
    """A user's ranked list as stored with a TTL: every page is cut from it until it expires.

    A worker keeps recent ones in memory ("kept lists"); the database holds them all ("stored")."""

    user_id: UUID
    model_version: str
    generated_at: datetime
    expires_at: datetime
    items: RankedPosts


@dataclass(frozen=True, slots=True)
class ServedList:
    """A ranked list as served to a client, kept so a cursor continues it page after page: pages
    are cut from `items` by position, so posts excluded later drop out without shifting the rest."""

    id: UUID
    user_id: UUID
    model_version: str | None
    source: str
    expires_at: datetime
    items: RankedPosts


@dataclass(frozen=True, slots=True)
class PostEngagement:
    """Weighted engagement a post received inside a time window (read model for trending)."""

    post_id: UUID
    author_id: UUID
    post_created_at: datetime
    weight: float
