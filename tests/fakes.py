"""In-memory fakes of our own ports, for unit tests. Contract tests keep them honest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.domain.entities import (
    HistoryItem,
    Interaction,
    Post,
    PostEngagement,
    RankedPosts,
    Reason,
    Recommendation,
    ServedList,
    StoredList,
    User,
)
from app.domain.ports import ListCheck, RecommendationQuery, Recommender
from app.shared.exceptions import Conflict


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
    """`lookups` counts `existing_ids` calls: tracking a good batch should need none."""

    def __init__(self) -> None:
        self.rows: dict[UUID, User] = {}
        self.lookups = 0

    async def add_many(self, users: Iterable[User]) -> int:
        return _add_new(self.rows, users)

    async def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        self.lookups += 1
        return {u for u in user_ids if u in self.rows}

    async def upsert(self, user: User) -> bool:
        if any(u.username == user.username and u.id != user.id for u in self.rows.values()):
            raise Conflict(f"username {user.username!r} is taken")
        new = user.id not in self.rows
        self.rows[user.id] = user
        return new

    async def erase(self, user_id: UUID, now: datetime) -> bool:
        """Wired by InMemoryStores, which holds every table."""
        raise NotImplementedError

    def create_placeholders(self, user_ids: Iterable[UUID], now: datetime) -> None:
        for user_id in user_ids:
            if user_id not in self.rows:
                self.rows[user_id] = User(user_id, f"user-{user_id.hex}", "", 0, now)


class InMemoryPostRepository:
    """`lookups` counts `existing_ids` calls: tracking a good batch should need none."""

    def __init__(self, users: InMemoryUserRepository | None = None) -> None:
        self.rows: dict[UUID, Post] = {}
        self.deleted: dict[UUID, datetime] = {}
        self.lookups = 0
        self._users = users or InMemoryUserRepository()

    async def add_many(self, posts: Iterable[Post]) -> int:
        return _add_new(self.rows, posts)

    async def upsert_many(self, posts: Sequence[Post]) -> int:
        self._users.create_placeholders({p.author_id for p in posts}, datetime.now(UTC))
        new = sum(1 for p in posts if p.id not in self.rows)
        for post in posts:
            self.rows[post.id] = post
            self.deleted.pop(post.id, None)
        return new

    async def delete(self, post_id: UUID, now: datetime) -> bool:
        """Interactions and stored rows go with it: wired by InMemoryStores."""
        if self.rows.pop(post_id, None) is None:
            return False
        self.deleted[post_id] = now
        return True

    async def deleted_ids(self) -> set[UUID]:
        return set(self.deleted)

    async def forget_deleted(self, before: datetime) -> int:
        old = [p for p, at in self.deleted.items() if at < before]
        for post_id in old:
            del self.deleted[post_id]
        return len(old)

    async def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        self.lookups += 1
        return {p for p in post_ids if p in self.rows}

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return {p.id for p in self.rows.values() if p.author_id == author_id}

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        recent = [p for p in self.rows.values() if p.created_at >= since]
        recent.sort(key=lambda p: (-p.created_at.timestamp(), str(p.id)))
        return recent[:limit]


class InMemoryInteractionRepository:
    """`transactions` counts the `add_many` calls: each is one transaction in the database."""

    def __init__(self, users: InMemoryUserRepository, posts: InMemoryPostRepository) -> None:
        self.rows: list[Interaction] = []
        self.transactions = 0
        self._users = users
        self._posts = posts

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        ids = {i.id for i in self.rows}  # a batch sent again stores nothing twice
        keys: set[tuple[UUID, str | None]] = {(i.user_id, i.event_id) for i in self.rows if i.event_id}
        stored: set[UUID] = set()
        # In order, as in the adapters: of two items with one user and event id, the first is stored.
        for interaction in interactions:
            if interaction.post_id not in self._posts.rows:
                continue
            # A new account acts before the app syncs it: its user is created.
            self._users.create_placeholders([interaction.user_id], interaction.created_at)
            key = (interaction.user_id, interaction.event_id)
            if interaction.id in ids or key in keys:
                continue
            self.rows.append(interaction)
            ids.add(interaction.id)
            if interaction.event_id is not None:
                keys.add(key)
            stored.add(interaction.id)
        self.transactions += 1
        return stored

    async def with_event_ids(self, keys: Iterable[tuple[UUID, str]]) -> list[Interaction]:
        wanted = set(keys)
        return [i for i in self.rows if i.event_id is not None and (i.user_id, i.event_id) in wanted]

    async def history(self, user_id: UUID) -> list[HistoryItem]:
        mine = sorted((i for i in self.rows if i.user_id == user_id), key=lambda i: (i.created_at, str(i.id)))
        return [HistoryItem(i.post_id, i.kind, i.created_at) for i in mine]

    async def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        return self.seen(user_id)

    async def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        totals: dict[UUID, float] = {}
        for interaction in self.rows:
            if interaction.created_at >= since and interaction.post_id in self._posts.rows:
                weight = weights.get(interaction.kind.value, 0.0)
                totals[interaction.post_id] = totals.get(interaction.post_id, 0.0) + weight
        return [
            PostEngagement(pid, self._posts.rows[pid].author_id, self._posts.rows[pid].created_at, weight)
            for pid, weight in totals.items()
        ]

    def seen(self, user_id: UUID) -> set[UUID]:
        """Synchronous, for the stored lists' `check`, which reads interactions too."""
        return {i.post_id for i in self.rows if i.user_id == user_id}


class InMemoryStoredListRepository:
    """One list per user, as the rows of `user_recommendation` are: storing one replaces all the
    user's rows, whatever their model version. `transactions` counts the `store` calls."""

    def __init__(
        self,
        interactions: InMemoryInteractionRepository,
        users: InMemoryUserRepository | None = None,
        posts: InMemoryPostRepository | None = None,
    ) -> None:
        self.rows: dict[UUID, StoredList] = {}
        self.transactions = 0
        self._interactions = interactions
        self._users = users
        self._posts = posts

    async def read(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        stored = self.rows.get(user_id)
        if stored is None or stored.model_version != model_version or stored.expires_at <= now:
            return None
        return stored

    async def check(self, user_id: UUID, model_version: str, now: datetime, listed: RankedPosts) -> ListCheck:
        stored = await self.read(user_id, model_version, now)
        seen = self._interactions.seen(user_id) & set(listed.post_ids())
        gone = set(self._posts.deleted) if self._posts else set()
        known = self._users is None or user_id in self._users.rows
        return ListCheck(seen, None if stored is None else stored.generated_at, gone, known)

    async def store(self, lists: Sequence[StoredList]) -> None:
        if not lists:  # the database adapters open no transaction for nothing either
            return
        for stored in lists:
            self.replace(stored)
        self.transactions += 1

    async def delete_expired(self, now: datetime) -> int:
        expired = [u for u, s in self.rows.items() if s.expires_at <= now]
        # The database holds a row per post, so that is what is counted.
        deleted = sum(len(self.rows[u].items) for u in expired)
        for user_id in expired:
            del self.rows[user_id]
        return deleted

    def replace(self, stored: StoredList) -> None:
        """Synchronous, for the writer, whose `save` may not block."""
        if stored.items:
            self.rows[stored.user_id] = stored
        else:  # no rows left for the user: no list
            self.rows.pop(stored.user_id, None)


class InMemoryServedListRepository:
    def __init__(self) -> None:
        self.rows: dict[UUID, ServedList] = {}

    async def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        served = self.rows.get(list_id)
        return served if served is not None and served.expires_at > now else None

    async def save(self, lists: Sequence[ServedList]) -> None:
        for served in lists:
            old = self.rows.get(served.id)
            if old is None or old.expires_at < served.expires_at:
                self.rows[served.id] = served

    async def delete_expired(self, now: datetime) -> int:
        expired = [i for i, s in self.rows.items() if s.expires_at <= now]
        for list_id in expired:
            del self.rows[list_id]
        return len(expired)


class InMemoryStoredListWriter:
    """Stores each list at once (the real writer does so later), so a test's next request finds it;
    `saved` is every stored list handed over, `served` every served list."""

    def __init__(
        self, lists: InMemoryStoredListRepository, served: InMemoryServedListRepository | None = None
    ) -> None:
        self.saved: list[StoredList] = []
        self.served: list[ServedList] = []
        self._lists = lists
        self._served = served or InMemoryServedListRepository()

    def save(self, stored: StoredList) -> None:
        self.saved.append(stored)
        self._lists.replace(stored)

    def save_served(self, served: ServedList) -> None:
        self.served.append(served)
        self._served.rows[served.id] = served


@dataclass
class InMemoryStores:
    """The whole fake database, shaped like the real `Stores`."""

    users: InMemoryUserRepository = field(default_factory=InMemoryUserRepository)
    posts: InMemoryPostRepository = field(init=False)
    interactions: InMemoryInteractionRepository = field(init=False)
    lists: InMemoryStoredListRepository = field(init=False)
    served: InMemoryServedListRepository = field(default_factory=InMemoryServedListRepository)

    def __post_init__(self) -> None:
        self.posts = InMemoryPostRepository(self.users)
        self.interactions = InMemoryInteractionRepository(self.users, self.posts)
        self.lists = InMemoryStoredListRepository(self.interactions, self.users, self.posts)
        delete_post = self.posts.delete

        async def delete(post_id: UUID, now: datetime) -> bool:
            self.interactions.rows = [i for i in self.interactions.rows if i.post_id != post_id]
            for stored in list(self.lists.rows.values()):
                items = RankedPosts(r for r in stored.items if r.post_id != post_id)
                self.lists.replace(replace(stored, items=items))
            return await delete_post(post_id, now)

        async def erase(user_id: UUID, now: datetime) -> bool:
            for post_id in [p.id for p in self.posts.rows.values() if p.author_id == user_id]:
                await delete(post_id, now)
            self.interactions.rows = [i for i in self.interactions.rows if i.user_id != user_id]
            self.lists.rows.pop(user_id, None)
            self.served.rows = {i: s for i, s in self.served.rows.items() if s.user_id != user_id}
            return self.users.rows.pop(user_id, None) is not None

        self.posts.delete = delete  # type: ignore[method-assign]
        self.users.erase = erase  # type: ignore[method-assign]


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
    def __init__(
        self, model: Recommender | None = None, last_error: str | None = None, *, loading: bool = False
    ) -> None:
        self.model = model
        self._last_error = last_error
        self.loading = loading

    def current(self) -> Recommender | None:
        return self.model

    @property
    def last_error(self) -> str | None:
        return self._last_error
