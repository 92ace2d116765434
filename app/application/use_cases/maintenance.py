"""Housekeeping and batch jobs: expired-row cleanup and top-N precomputation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import UUID

from app.domain.ports import Clock, RecommendationQuery, Recommender, UnitOfWorkFactory


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

    def execute(self, user_ids: Iterable[UUID], progress: Callable[[int], object] | None = None) -> int:
        """Stores top-N (own and seen posts excluded) for each user with history; returns users stored."""
        stored = 0
        for user_id in user_ids:
            now = self._clock.now()
            with self._uow_factory() as uow:
                history = uow.interactions.for_user(user_id)
                if history:
                    exclude = frozenset(uow.posts.ids_by_author(user_id)) | {i.post_id for i in history}
                    ranked = self._model.recommend(
                        RecommendationQuery(user_id, history, exclude, self._top_n, now)
                    )
                    uow.recommendations.replace_for_user(
                        user_id,
                        ranked,
                        model_version=self._model.version,
                        generated_at=now,
                        expires_at=now + self._ttl,
                    )
                    uow.commit()
                    stored += 1
            if progress:
                progress(1)
        return stored
