"""Housekeeping and batch jobs: expired-row cleanup and top-N precomputation."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import UUID

from anyio import to_thread

from app.domain.entities import RankedPosts, StoredList
from app.domain.ports import (
    Clock,
    InteractionRepository,
    PostRepository,
    RecommendationQuery,
    Recommender,
    ServedListRepository,
    StoredListRepository,
)


class DeleteExpiredRecommendations:
    def __init__(
        self,
        lists: StoredListRepository,
        served: ServedListRepository,
        posts: PostRepository,
        clock: Clock,
        *,
        keep: timedelta,
    ) -> None:
        self._lists = lists
        self._served = served
        self._posts = posts
        self._clock = clock
        self._keep = keep

    async def execute(self) -> int:
        """Deletes stored and served lists whose time has passed, and forgets deleted posts no
        list in use can hold; returns how many lists."""
        now = self._clock.now()
        await self._posts.forget_deleted(now - self._keep)
        return await self._lists.delete_expired(now) + await self._served.delete_expired(now)


class PrecomputeRecommendations:
    def __init__(
        self,
        *,
        posts: PostRepository,
        interactions: InteractionRepository,
        lists: StoredListRepository,
        model: Recommender,
        clock: Clock,
        ttl: timedelta,
        top_n: int,
    ) -> None:
        self._posts = posts
        self._interactions = interactions
        self._lists = lists
        self._model = model
        self._clock = clock
        self._ttl = ttl
        self._top_n = top_n

    async def execute(
        self,
        user_ids: Iterable[UUID],
        progress: Callable[[int], object] | None = None,
        *,
        users_per_commit: int = 100,
    ) -> int:
        """Stores top-N (own and seen posts excluded) for each user with history; returns users stored.

        Lists are stored `users_per_commit` at a time: they are a cache, and a commit per user
        was a disk flush per user."""
        stored = 0
        pending = iter(user_ids)
        while batch := list(itertools.islice(pending, users_per_commit)):
            lists = []
            for user_id in batch:
                ranked = await self._ranked(user_id)
                if ranked is not None:
                    lists.append(ranked)
                if progress:
                    progress(1)
            await self._lists.store(lists)
            stored += len(lists)
        return stored

    async def _ranked(self, user_id: UUID) -> StoredList | None:
        history = await self._interactions.history(user_id)
        if not history:
            return None
        now = self._clock.now()
        exclude = frozenset(await self._posts.ids_by_author(user_id)) | {i.post_id for i in history}
        query = RecommendationQuery(user_id, history, exclude, self._top_n, now)
        ranked = await to_thread.run_sync(self._model.recommend, query)
        return StoredList(user_id, self._model.version, now, now + self._ttl, RankedPosts(ranked))
