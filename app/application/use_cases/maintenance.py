"""Housekeeping and batch jobs: expired-row cleanup and top-N precomputation."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import UUID

from app.domain.ports import Clock, RecommendationQuery, Recommender, UnitOfWork, UnitOfWorkFactory


class DeleteExpiredRecommendations:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def execute(self) -> int:
        """Deletes rows whose TTL has passed; returns how many."""
        with self._uow_factory() as uow:
            deleted = uow.recommendations.delete_expired(self._clock.now())
            uow.commit()
        return deleted


class PrecomputeRecommendations:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, model: Recommender, clock: Clock, *, ttl: timedelta, top_n: int
    ) -> None:
        self._uow_factory = uow_factory
        self._model = model
        self._clock = clock
        self._ttl = ttl
        self._top_n = top_n

    def execute(
        self,
        user_ids: Iterable[UUID],
        progress: Callable[[int], object] | None = None,
        *,
        users_per_commit: int = 100,
    ) -> int:
        """Stores top-N (own and seen posts excluded) for each user with history; returns users stored.

        Lists are committed `users_per_commit` at a time: they are a cache, and a commit per
        user was a disk flush per user."""
        stored = 0
        pending = iter(user_ids)
        while batch := list(itertools.islice(pending, users_per_commit)):
            with self._uow_factory() as uow:
                for user_id in batch:
                    stored += self._store(uow, user_id)
                    if progress:
                        progress(1)
                uow.commit()
        return stored

    def _store(self, uow: UnitOfWork, user_id: UUID) -> int:
        history = uow.interactions.history(user_id)
        if not history:
            return 0
        now = self._clock.now()
        exclude = frozenset(uow.posts.ids_by_author(user_id)) | {i.post_id for i in history}
        ranked = self._model.recommend(RecommendationQuery(user_id, history, exclude, self._top_n, now))
        uow.recommendations.replace_for_user(
            user_id, ranked, model_version=self._model.version, generated_at=now, expires_at=now + self._ttl
        )
        return 1
