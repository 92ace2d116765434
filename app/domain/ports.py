"""Ports: the seams between use cases and the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from app.domain.entities import (
    HistoryItem,
    Interaction,
    Post,
    PostEngagement,
    Recommendation,
    StoredList,
    User,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class UserRepository(Protocol):
    def add_many(self, users: Iterable[User]) -> int:
        """Insert users, skipping ids that exist; returns how many were new."""
        ...

    def get(self, user_id: UUID) -> User | None: ...

    def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        """The subset of the given ids that exist."""
        ...


class PostRepository(Protocol):
    def add_many(self, posts: Iterable[Post]) -> int:
        """Insert posts, skipping ids that exist; returns how many were new."""
        ...

    def get_many(self, post_ids: Iterable[UUID]) -> list[Post]: ...

    def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]: ...

    def ids_by_author(self, author_id: UUID) -> set[UUID]:
        """Every post the user wrote (they are never recommended back to them)."""
        ...

    def created_since(self, since: datetime, limit: int) -> list[Post]:
        """The newest posts created at or after `since`, newest first, at most `limit`."""
        ...


class InteractionRepository(Protocol):
    def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        """Store the interactions whose user and post exist, one per `event_id` (a repeat inside
        the batch, or of one stored before, is not stored). Returns the ids of those stored."""
        ...

    def for_user(self, user_id: UUID, since: datetime | None = None) -> list[Interaction]:
        """The user's interactions at or after `since` (all when None), oldest first."""
        ...

    def history(self, user_id: UUID) -> list[HistoryItem]:
        """What ranking needs of each of the user's interactions, oldest first."""
        ...

    def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        """Every post the user has interacted with, however long ago."""
        ...

    def seen_among(self, user_id: UUID, post_ids: Sequence[UUID]) -> set[UUID]:
        """The posts of `post_ids` the user has interacted with."""
        ...

    def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        """Summed interaction weight per post over interactions at or after `since`."""
        ...


class RecommendationRepository(Protocol):
    def fresh_list(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        """The user's stored list for this model version, best first, if it has not expired."""
        ...

    def generated_at(self, user_id: UUID, model_version: str, now: datetime) -> datetime | None:
        """When the list `fresh_list` would return was generated; None when there is none."""
        ...

    def replace_for_user(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Replace every stored row of this user with these (upsert on (user_id, post_id))."""
        ...

    def delete_expired(self, now: datetime) -> int:
        """Delete rows whose expires_at is at or before `now`; returns how many."""
        ...


class RecommendationCache(Protocol):
    """Where computed lists are kept for later requests."""

    def save(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Store the user's ranked list. It may complete after returning: the rows are a cache,
        so a lost write costs one recomputation, never a wrong answer."""
        ...


class UnitOfWork(Protocol):
    """One transaction: commits only when told to, rolls back on exit otherwise."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def posts(self) -> PostRepository: ...

    @property
    def interactions(self) -> InteractionRepository: ...

    @property
    def recommendations(self) -> RecommendationRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class RecommendationQuery:
    """What a recommender needs to rank posts for one user right now."""

    user_id: UUID
    history: Sequence[HistoryItem | Interaction]
    exclude: frozenset[UUID]
    limit: int
    now: datetime
    fresh_posts: Sequence[Post] = ()


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
