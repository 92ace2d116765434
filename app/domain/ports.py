"""Ports: the seams between use cases and the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.entities import (
    HistoryItem,
    Interaction,
    Post,
    PostEngagement,
    RankedPosts,
    Recommendation,
    ServedList,
    StoredList,
    User,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class UserRepository(Protocol):
    async def add_many(self, users: Iterable[User]) -> int:
        """Insert users, skipping ids that exist; returns how many were new."""
        ...

    async def upsert(self, user: User) -> bool:
        """Insert or update the user; True when it was new. Raises Conflict when another user
        has the username."""
        ...

    async def erase(self, user_id: UUID, now: datetime) -> bool:
        """Delete the user and everything recorded about them: interactions, stored and served
        lists, and their posts (recorded as deleted at `now`). True when the user existed."""
        ...

    async def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        """The subset of the given ids that exist."""
        ...


class PostRepository(Protocol):
    async def add_many(self, posts: Iterable[Post]) -> int:
        """Insert posts, skipping ids that exist; returns how many were new."""
        ...

    async def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]: ...

    async def upsert_many(self, posts: Sequence[Post]) -> int:
        """Insert or update posts, creating unknown authors as placeholder users; returns how
        many were new. A post deleted before is stored again."""
        ...

    async def delete(self, post_id: UUID, now: datetime) -> bool:
        """Delete the post, its interactions and its rows in stored lists, and record it as
        deleted at `now`; True when it existed."""
        ...

    async def deleted_ids(self) -> set[UUID]:
        """Posts deleted lately (while a list that may hold them can still be served)."""
        ...

    async def forget_deleted(self, before: datetime) -> int:
        """Forget posts deleted before `before`, once no list in use can hold them."""
        ...

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        """Every post the user wrote (they are never recommended back to them)."""
        ...

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        """The newest posts created at or after `since`, newest first, at most `limit`."""
        ...


class InteractionRepository(Protocol):
    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        """Store, in order and in one transaction, the interactions whose post exists (an unknown
        user is created), one per user and `event_id`: an item whose user and event id are
        stored already, before or earlier in the batch, is not stored. Returns the stored ids."""
        ...

    async def with_event_ids(self, keys: Iterable[tuple[UUID, str]]) -> list[Interaction]:
        """The stored interactions of these (user id, event id) pairs; a pair not stored has none."""
        ...

    async def history(self, user_id: UUID) -> list[HistoryItem]:
        """What ranking needs of each of the user's interactions, oldest first."""
        ...

    async def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        """Every post the user has interacted with, however long ago."""
        ...

    async def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        """Summed interaction weight per post over interactions at or after `since`."""
        ...


@dataclass(frozen=True, slots=True)
class ListCheck:
    """What the database says about a list a worker keeps: whether to serve it, and what to hide."""

    seen: set[UUID]
    """The list's posts the user has interacted with."""
    generated_at: datetime | None
    """When the user's stored list for the version was generated; None when none is stored."""
    gone: set[UUID]
    """Posts deleted lately: they leave every list at once."""
    user_known: bool
    """Whether the user exists (an erased user's kept lists are dropped)."""


class StoredListRepository(Protocol):
    """Ranked lists stored in the database with a TTL, one per user."""

    async def read(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        """The user's stored list for this model version, best first, if it has not expired."""
        ...

    async def check(self, user_id: UUID, model_version: str, now: datetime, listed: RankedPosts) -> ListCheck:
        """What a page of a list in memory needs to know, in one read: the seen posts among
        `listed`, when the stored list was generated, the deleted posts, whether the user exists."""
        ...

    async def store(self, lists: Sequence[StoredList]) -> None:
        """Replace each list's user's stored rows with it, all in one transaction. The rows are a
        cache: the commit need not wait for the disk."""
        ...

    async def delete_expired(self, now: datetime) -> int:
        """Delete rows whose expires_at is at or before `now`; returns how many."""
        ...


class ServedListRepository(Protocol):
    """Lists as served, kept for cursors until they expire, whatever replaces the stored list."""

    async def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        """The list if it has not expired."""
        ...

    async def save(self, lists: Sequence[ServedList]) -> None:
        """Store the lists; one stored before gets the later expiry."""
        ...

    async def delete_expired(self, now: datetime) -> int: ...


class StoredListWriter(Protocol):
    """Where computed lists go to be stored, after the request that computed them has answered."""

    def save(self, stored: StoredList) -> None:
        """Hand the list over; never blocks. A lost write costs one recomputation, never a wrong
        answer."""
        ...

    def save_served(self, served: ServedList) -> None:
        """Hand a served list over; never blocks. A lost write ends its cursor early (the next
        page starts a new list and says so)."""
        ...


@dataclass(frozen=True, slots=True)
class RecommendationQuery:
    """What a recommender needs to rank posts for one user right now."""

    user_id: UUID
    history: Sequence[HistoryItem | Interaction]
    exclude: frozenset[UUID]
    limit: int
    now: datetime
    new_posts: Sequence[Post] = ()
    """Posts created since the model was trained, scored from their content."""


class Recommender(Protocol):
    """Ranks posts for a user; results are sorted by score descending, scores in [0, 1]."""

    @property
    def version(self) -> str: ...

    @property
    def trained_at(self) -> datetime:
        """The newest interaction the model learned from; posts after it are new to the model."""
        ...

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        """At most `query.limit` posts, none of them in `query.exclude`."""
        ...


class ModelStore(Protocol):
    """Where the active model comes from (the registry on disk in production)."""

    def active_version(self) -> str | None:
        """The version the registry marks active, or None when there is none."""
        ...

    def load(self, version: str) -> Recommender:
        """Load and verify a model; raises ModelUnavailable when it is missing or corrupt."""
        ...
