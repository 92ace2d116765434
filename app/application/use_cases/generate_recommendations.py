"""Generate a user's feed: fresh precomputed rows when there are some, else compute and store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from app.application.dto import GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.ports import KeptListReads, ModelProvider, RecentLists
from app.application.use_cases.trending import TrendingPosts
from app.domain import ranking
from app.domain.entities import HistoryItem, Post, Recommendation, StoredList
from app.domain.ports import (
    Clock,
    RecommendationCache,
    RecommendationQuery,
    Recommender,
    UnitOfWork,
    UnitOfWorkFactory,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    ttl: timedelta
    top_n: int
    fresh_posts_window: timedelta = timedelta(hours=48)
    fresh_posts_limit: int = 500
    # Posts newer than the model are read at most this often per worker, not per request.
    fresh_posts_cache: timedelta = timedelta(seconds=10)


class GenerateRecommendations:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        models: ModelProvider,
        trending: TrendingPosts,
        cache: RecommendationCache,
        recent: RecentLists,
        clock: Clock,
        policy: RankingPolicy,
        kept_reads: KeptListReads | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._models = models
        self._trending = trending
        self._cache = cache
        self._recent = recent
        # (when read, from when, the posts): replaced whole, so threads never see it half-made.
        self._fresh: tuple[datetime, datetime, list[Post]] | None = None
        self._clock = clock
        self._policy = policy
        self._kept_reads = kept_reads

    async def execute_cached(self, command: GenerateRecommendationsCommand) -> RecommendationsResult | None:
        """The page of a list this worker keeps, asking the database only what the user has seen
        and whether a newer list was stored, in one read awaited on the event loop. None when
        `execute` must run: no list kept for the user, one the user has seen to the end, a newer
        list stored, or no asynchronous reads (the embedded SQLite default)."""
        if self._kept_reads is None:
            return None
        now = self._clock.now()
        model = self._models.current()
        version = model.version if model else None
        if version is None or not self._cacheable(command):
            return None
        stored = self._recent.get(command.user_id, version, now)
        if stored is None:
            return None
        state = await self._kept_reads.state(command.user_id, version, now, [r.post_id for r in stored.items])
        if _replaced(stored, state.generated_at):
            self._recent.discard(command.user_id)
            return None
        return self._stored_page(command, stored, state.seen, now)

    def execute(self, command: GenerateRecommendationsCommand) -> RecommendationsResult:
        """Ranked posts for the user; never their own posts, never seen ones unless asked."""
        now = self._clock.now()
        model = self._models.current()
        version = model.version if model else None
        cacheable = version is not None and self._cacheable(command)
        with self._uow_factory() as uow:
            if cacheable and version is not None:
                stored = self._recent.get(command.user_id, version, now)
                if stored is not None and _replaced(
                    stored, uow.recommendations.generated_at(command.user_id, version, now)
                ):
                    self._recent.discard(command.user_id)
                    stored = None
                if stored is None:
                    stored = uow.recommendations.fresh_list(command.user_id, version, now)
                    if stored is not None:
                        self._recent.put(command.user_id, stored)
                if stored is not None:
                    # Who has seen what always comes from the database: a post tracked a second
                    # ago, on any worker, is left out.
                    seen = uow.interactions.seen_among(command.user_id, [r.post_id for r in stored.items])
                    result = self._stored_page(command, stored, seen, now)
                    if result is not None:
                        return result
            never = frozenset(uow.posts.ids_by_author(command.user_id))
            # The model folds in the history; otherwise the seen ids are all that is needed.
            history = uow.interactions.history(command.user_id) if model else []
            seen = {i.post_id for i in history} if model else uow.interactions.seen_post_ids(command.user_id)
            exclude = never | seen if command.exclude_seen else never
            # Always top_n long, computed or stored, so pages and totals do not depend on which
            # request happened to compute the list.
            ranked, source = self._compute(uow, model, command.user_id, history, exclude, self._policy.top_n)
        # Cold-start lists are not stored: the user's first interactions must count at once.
        if cacheable and ranked and source is Source.MODEL and version is not None:
            expires_at = now + self._policy.ttl
            self._recent.put(command.user_id, StoredList(version, now, expires_at, tuple(ranked)))
            self._cache.save(
                command.user_id,
                ranked,
                model_version=version,
                generated_at=now,
                expires_at=expires_at,
            )
        visible = ranking.without(ranked, command.exclude_post_ids)
        page = ranking.page(visible, command.offset, command.limit)
        return self._result(command, page, len(visible), version, now, source)

    def _cacheable(self, command: GenerateRecommendationsCommand) -> bool:
        # Stored rows are ranked without seen posts, so they can only serve exclude_seen requests.
        return command.exclude_seen and self._policy.ttl > timedelta(0)

    def _stored_page(
        self,
        command: GenerateRecommendationsCommand,
        stored: StoredList,
        seen: set[UUID],
        now: datetime,
    ) -> RecommendationsResult | None:
        visible = ranking.without(stored.items, command.exclude_post_ids | seen)
        # A stored list the user has seen to the end is a miss: compute a new one.
        if not visible:
            return None
        page = ranking.page(visible, command.offset, command.limit)
        return self._result(command, page, len(visible), stored.model_version, now, Source.PRECOMPUTED)

    @staticmethod
    def _result(
        command: GenerateRecommendationsCommand,
        page: list[Recommendation],
        total: int,
        version: str | None,
        now: datetime,
        source: Source,
    ) -> RecommendationsResult:
        return RecommendationsResult(command.user_id, page, total, version, now, source)

    def _compute(
        self,
        uow: UnitOfWork,
        model: Recommender | None,
        user_id: UUID,
        history: list[HistoryItem],
        exclude: frozenset[UUID],
        wanted: int,
    ) -> tuple[list[Recommendation], Source]:
        if model is not None and history:
            now = self._clock.now()
            # Only posts the model has never seen need to be scored from their content.
            since = max(model.trained_at, now - self._policy.fresh_posts_window)
            fresh = self._fresh_posts(uow, since, now)
            query = RecommendationQuery(user_id, history, exclude, wanted, now, fresh_posts=fresh)
            try:
                return model.recommend(query), Source.MODEL
            except Exception:  # a faulty model degrades this answer to trending; it never fails it
                logger.exception("model %s failed, serving trending", model.version)
        return ranking.without(self._trending.execute(), exclude)[:wanted], Source.COLD_START

    def _fresh_posts(self, uow: UnitOfWork, since: datetime, now: datetime) -> list[Post]:
        """The newest posts created at or after `since`. A list read less than the cache time ago
        from an earlier `since` holds them: the newest posts after `since` are its prefix."""
        cached = self._fresh
        if cached is not None and cached[1] <= since and now - cached[0] < self._policy.fresh_posts_cache:
            return [p for p in cached[2] if p.created_at >= since]
        posts = uow.posts.created_since(since, self._policy.fresh_posts_limit)
        self._fresh = (now, since, posts)
        return posts


def _replaced(kept: StoredList, stored_generated_at: datetime | None) -> bool:
    """Whether the database holds a newer list than the one kept in memory (stored by another
    worker or the precompute job). An older one, or none, means this worker's newer list is not
    written yet (the cache writer runs in the background): the kept list stands."""
    return stored_generated_at is not None and stored_generated_at > kept.generated_at
