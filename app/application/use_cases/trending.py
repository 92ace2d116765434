"""Trending posts for cold start and fallback, recomputed at most every `cache_seconds`."""

from __future__ import annotations

from datetime import datetime, timedelta

import anyio
from anyio import to_thread

from app.domain import ranking
from app.domain.entities import Recommendation
from app.domain.ports import Clock, InteractionRepository


class TrendingPosts:
    """A global trending list: the same for every user, so it is computed once and shared."""

    def __init__(
        self,
        interactions: InteractionRepository,
        clock: Clock,
        *,
        weights: dict[str, float],
        window: timedelta,
        cache_seconds: float,
        size: int = 1000,
    ) -> None:
        self._interactions = interactions
        self._clock = clock
        self._weights = weights
        self._window = window
        self._cache = timedelta(seconds=cache_seconds)
        self._size = size
        self._lock = anyio.Lock()
        self._computed_at: datetime | None = None
        self._ranked: list[Recommendation] = []

    async def execute(self) -> list[Recommendation]:
        """The current trending list, best first (may be empty on an empty database)."""
        now = self._clock.now()
        if self._computed_at is not None and now - self._computed_at < self._cache:
            return self._ranked
        async with self._lock:  # one request recomputes; the others wait for its list
            if self._computed_at is None or now - self._computed_at >= self._cache:
                engagement = await self._interactions.engagement_since(now - self._window, self._weights)
                # Tens of thousands of posts in a busy window: ranked off the event loop.
                self._ranked = await to_thread.run_sync(ranking.trending, engagement, now, self._size)
                self._computed_at = now
            return self._ranked
