"""In-memory fakes of our own ports, for unit tests. Contract tests keep them honest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from app.application.ports import KeptListState
from app.domain.entities import (
    HistoryItem,
    Interaction,
    Post,
    PostEngagement,
    Reason,
    Recommendation,
    StoredList,
    User,
)
from app.domain.ports import RecommendationQuery, Recommender


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def _add_new(rows: dict[UUID, Any], items: Iterable[Any]) -> int:
    """Insert items whose id is new; returns how many were."""
    added = 0
    for item in items:
        if item.id not in rows:
            rows[item.id] = item
            added += 1
    return added


class InMemoryUserRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, User] = {}

    def add_many(self, users: Iterable[User]) -> int:
        return _add_new(self.rows, users)

    def get(self, user_id: UUID) -> User | None:
        return self.rows.get(user_id)

    def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        return {u for u in user_ids if u in self.rows}


class InMemoryPostRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, Post] = {}

    def add_many(self, posts: Iterable[Post]) -> int:
        return _add_new(self.rows, posts)

    def get_many(self, post_ids: Iterable[UUID]) -> list[Post]:
        return [self.rows[p] for p in dict.fromkeys(post_ids) if p in self.rows]

    def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        return {p for p in post_ids if p in self.rows}

    def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return {p.id for p in self.rows.values() if p.author_id == author_id}

    def created_since(self, since: datetime, limit: int) -> list[Post]:
        recent = [p for p in self.rows.values() if p.created_at >= since]
        recent.sort(key=lambda p: (-p.created_at.timestamp(), str(p.id)))
        return recent[:limit]


class InMemoryInteractionRepository:
    def __init__(self, users: InMemoryUserRepository, posts: InMemoryPostRepository) -> None:
        self.rows: list[Interaction] = []
        self._users = users
        self._posts = posts

    def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        event_ids = {i.event_id for i in self.rows if i.event_id is not None}
        stored: set[UUID] = set()
        for interaction in interactions:
            if interaction.user_id not in self._users.rows or interaction.post_id not in self._posts.rows:
                continue
            if interaction.event_id is not None:
                if interaction.event_id in event_ids:
                    continue
                event_ids.add(interaction.event_id)
            self.rows.append(interaction)
            stored.add(interaction.id)
        return stored

    def for_user(self, user_id: UUID, since: datetime | None = None) -> list[Interaction]:
        mine = [i for i in self.rows if i.user_id == user_id and (since is None or i.created_at >= since)]
        return sorted(mine, key=lambda i: (i.created_at, str(i.id)))

    def history(self, user_id: UUID) -> list[HistoryItem]:
        return [HistoryItem(i.post_id, i.kind, i.created_at) for i in self.for_user(user_id)]

    def seen_among(self, user_id: UUID, post_ids: Sequence[UUID]) -> set[UUID]:
        return self.seen_post_ids(user_id) & set(post_ids)

    def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        return {i.post_id for i in self.rows if i.user_id == user_id}

    def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        totals: dict[UUID, float] = {}
        for interaction in self.rows:
            if interaction.created_at >= since and interaction.post_id in self._posts.rows:
                weight = weights.get(interaction.kind.value, 0.0)
                totals[interaction.post_id] = totals.get(interaction.post_id, 0.0) + weight
        return [
            PostEngagement(pid, self._posts.rows[pid].author_id, self._posts.rows[pid].created_at, weight)
            for pid, weight in totals.items()
        ]


@dataclass
class StoredRecommendation:
    recommendation: Recommendation
    model_version: str
    generated_at: datetime
    expires_at: datetime


class InMemoryRecommendationRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, list[StoredRecommendation]] = {}

    def fresh_list(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        fresh = [
            s for s in self.rows.get(user_id, []) if s.model_version == model_version and s.expires_at > now
        ]
        if not fresh:
            return None
        return StoredList(
            model_version,
            max(s.generated_at for s in fresh),
            min(s.expires_at for s in fresh),
            tuple(s.recommendation for s in fresh),
        )

    def generated_at(self, user_id: UUID, model_version: str, now: datetime) -> datetime | None:
        fresh = self.fresh_list(user_id, model_version, now)
        return None if fresh is None else fresh.generated_at

    def replace_for_user(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.rows[user_id] = [
            StoredRecommendation(r, model_version, generated_at, expires_at) for r in recommendations
        ]

    def delete_expired(self, now: datetime) -> int:
        deleted = 0
        for user_id, stored in list(self.rows.items()):
            kept = [s for s in stored if s.expires_at > now]
            deleted += len(stored) - len(kept)
            self.rows[user_id] = kept
        return deleted


@dataclass
class InMemoryStore:
    """The whole fake database; a unit of work snapshots nothing and commits by flag."""

    users: InMemoryUserRepository = field(default_factory=InMemoryUserRepository)
    posts: InMemoryPostRepository = field(default_factory=InMemoryPostRepository)
    interactions: InMemoryInteractionRepository = field(init=False)
    recommendations: InMemoryRecommendationRepository = field(init=False)

    def __post_init__(self) -> None:
        self.interactions = InMemoryInteractionRepository(self.users, self.posts)
        self.recommendations = InMemoryRecommendationRepository()


class InMemoryRecommendationCache:
    """Writes at once into the fake database, so a test's next request sees the stored list."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.saves = 0

    def save(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.saves += 1
        self.store.recommendations.replace_for_user(
            user_id,
            recommendations,
            model_version=model_version,
            generated_at=generated_at,
            expires_at=expires_at,
        )


class InMemoryKeptListReads:
    """`KeptListReads` over the fake database; `calls` counts the questions asked."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.calls = 0

    async def state(
        self, user_id: UUID, model_version: str, now: datetime, post_ids: Sequence[UUID]
    ) -> KeptListState:
        self.calls += 1
        return KeptListState(
            self.store.interactions.seen_among(user_id, post_ids),
            self.store.recommendations.generated_at(user_id, model_version, now),
        )


class InMemoryInteractionWrites:
    """`InteractionWrites` over the fake database; `calls` counts the statements sent."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.calls = 0

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        self.calls += 1
        return self.store.interactions.add_many(interactions)

    async def existing(
        self, user_ids: Iterable[UUID], post_ids: Iterable[UUID]
    ) -> tuple[set[UUID], set[UUID]]:
        self.calls += 1
        return self.store.users.existing_ids(user_ids), self.store.posts.existing_ids(post_ids)


class InMemoryUnitOfWork:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.users = store.users
        self.posts = store.posts
        self.interactions = store.interactions
        self.recommendations = store.recommendations
        self.committed = False
        self.commits = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        self.committed = True
        self.commits += 1

    def rollback(self) -> None:
        return None


class InMemoryUnitOfWorkFactory:
    """Hands out units of work over one store; `last` is the most recent, for assertions."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()
        self.last: InMemoryUnitOfWork | None = None
        self.opened = 0

    def __call__(self) -> InMemoryUnitOfWork:
        self.last = InMemoryUnitOfWork(self.store)
        self.opened += 1
        return self.last


class FakeRecommender:
    """Scores posts by a fixed table; records the last query so tests can inspect inputs."""

    def __init__(self, scores: dict[UUID, float], version: str = "v1") -> None:
        self.scores = scores
        self._version = version
        self.queries: list[RecommendationQuery] = []
        self.trained_at = datetime(2026, 11, 1, tzinfo=UTC)

    @property
    def version(self) -> str:
        return self._version

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        self.queries.append(query)
        ranked = sorted(
            ((pid, s) for pid, s in self.scores.items() if pid not in query.exclude),
            key=lambda item: (-item[1], str(item[0])),
        )
        return [Recommendation(pid, s, Reason.COLLABORATIVE_FILTERING) for pid, s in ranked[: query.limit]]


class FakeModelProvider:
    def __init__(self, model: Recommender | None = None, last_error: str | None = None) -> None:
        self.model = model
        self._last_error = last_error

    def current(self) -> Recommender | None:
        return self.model

    @property
    def last_error(self) -> str | None:
        return self._last_error
