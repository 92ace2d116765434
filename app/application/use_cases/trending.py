"""Trending posts for cold start and fallback, recomputed at most every `cache_seconds`."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from app.domain import ranking
from app.domain.entities import Recommendation
from app.domain.ports import Clock, UnitOfWorkFactory


class TrendingPosts:
    """A global trending list: the same for every user, so it is computed once and shared."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        *,
        weights: dict[str, float],
        window: timedelta,
        cache_seconds: float,
        size: int = 1000,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._weights = weights
        self._window = window
        self._cache = timedelta(seconds=cache_seconds)
        self._size = size
        self._lock = threading.Lock()
        self._computed_at: datetime | None = None
        self._ranked: list[Recommendation] = []

    def execute(self) -> list[Recommendation]:
        """The current trending list, best first (may be empty on an empty database)."""
        now = self._clock.now()
        with self._lock:
            if self._computed_at is None or now - self._computed_at >= self._cache:
                with self._uow_factory() as uow:
                    engagement = uow.interactions.engagement_since(now - self._window, self._weights)
                self._ranked = ranking.trending(engagement, now, self._size)
                self._computed_at = now
            return self._ranked
