"""Generate a user's feed: a page of the user's stored list while it lasts, else a list computed now.

Words used here and across the service: a *stored list* is a ranked list in the database with a
TTL; a *kept list* is the copy of one a worker holds in memory; *computing* a list means ranking
now, with the model (then storing it) or, without model or history, with trending posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from anyio import to_thread

from app.application.dto import GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.ports import KeptLists, ModelProvider
from app.application.use_cases.trending import TrendingPosts
from app.domain import ranking
from app.domain.entities import HistoryItem, Post, Recommendation, StoredList
from app.domain.ports import (
    Clock,
    InteractionRepository,
    ListCheck,
    PostRepository,
    RecommendationQuery,
    Recommender,
    StoredListRepository,
    StoredListWriter,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    ttl: timedelta
    top_n: int
    new_posts_window: timedelta = timedelta(hours=48)
    new_posts_limit: int = 500
    # Posts newer than the model are read at most this often per worker, not per request.
    new_posts_cache: timedelta = timedelta(seconds=10)


class GenerateRecommendations:
    def __init__(
        self,
        *,
        posts: PostRepository,
        interactions: InteractionRepository,
        lists: StoredListRepository,
        writer: StoredListWriter,
        kept: KeptLists,
        models: ModelProvider,
        trending: TrendingPosts,
        clock: Clock,
        policy: RankingPolicy,
    ) -> None:
        self._posts = posts
        self._interactions = interactions
        self._lists = lists
        self._writer = writer
        self._kept = kept
        self._models = models
        self._trending = trending
        self._clock = clock
        self._policy = policy
        # (when read, from when, the posts): the newest posts, shared by every request for a while.
        self._new_posts: tuple[datetime, datetime, list[Post]] | None = None

    async def execute(self, command: GenerateRecommendationsCommand) -> RecommendationsResult:
        """Ranked posts for the user; never their own posts, never seen ones unless asked.

        Only the database reads are awaited here; the model ranks in a worker thread."""
        now = self._clock.now()
        model = self._models.current()
        # Stored lists are ranked without seen posts, so they serve only exclude_seen requests.
        storable = model is not None and command.exclude_seen and self._policy.ttl > timedelta(0)
        if storable and model is not None:
            result = await self._stored_page(command, model.version, now)
            if result is not None:
                return result
        ranked, source = await self._computed(command, model, now)
        if storable and model is not None and ranked and source is Source.MODEL:
            # Cold-start lists are never stored: the user's first interactions must count at once.
            stored = StoredList(command.user_id, model.version, now, now + self._policy.ttl, tuple(ranked))
            self._kept.put(stored)
            self._writer.save(stored)
        visible = ranking.without(ranked, command.exclude_post_ids)
        return self._result(command, visible, model.version if model else None, now, source)

    async def _stored_page(
        self, command: GenerateRecommendationsCommand, version: str, now: datetime
    ) -> RecommendationsResult | None:
        """A page of the user's stored list (the kept copy, else the database's), without the
        posts the user has seen since; None when there is none, or the user has seen it all."""
        found = await self._stored_list(command.user_id, version, now)
        if found is None:
            return None
        stored, seen = found
        visible = ranking.without(stored.items, command.exclude_post_ids | seen)
        if not visible:
            return None
        return self._result(command, visible, version, now, Source.STORED)

    async def _stored_list(
        self, user_id: UUID, version: str, now: datetime
    ) -> tuple[StoredList, set[UUID]] | None:
        """The user's stored list, the kept copy unless the database holds a newer one, and the
        posts of it the user has seen. Who has seen what always comes from the database: a post
        tracked a second ago, on any worker, is left out."""
        kept = self._kept.get(user_id, version, now)
        if kept is not None:
            check = await self._lists.check(user_id, version, now, _post_ids(kept))
            if not _replaced(kept, check):
                return kept, check.seen
            self._kept.discard(user_id)
        stored = await self._lists.read(user_id, version, now)
        if stored is None:
            return None
        self._kept.put(stored)
        check = await self._lists.check(user_id, version, now, _post_ids(stored))
        return stored, check.seen

    async def _computed(
        self, command: GenerateRecommendationsCommand, model: Recommender | None, now: datetime
    ) -> tuple[list[Recommendation], Source]:
        """Always top_n long, so pages and totals do not depend on which request computed it."""
        user_id = command.user_id
        never = await self._posts.ids_by_author(user_id)
        # The model folds in the history; otherwise the seen ids are all that is needed.
        history: list[HistoryItem] = await self._interactions.history(user_id) if model else []
        seen = {i.post_id for i in history} if model else await self._interactions.seen_post_ids(user_id)
        exclude = frozenset(never | seen if command.exclude_seen else never)
        if model is not None and history:
            # Only posts the model has never seen need to be scored from their content.
            since = max(model.trained_at, now - self._policy.new_posts_window)
            query = RecommendationQuery(
                user_id, history, exclude, self._policy.top_n, now, new_posts=await self._newest(since, now)
            )
            try:
                return await to_thread.run_sync(model.recommend, query), Source.MODEL
            except Exception:  # a faulty model degrades this answer to trending; it never fails it
                logger.exception("model %s failed, serving trending", model.version)
        trending = await self._trending.execute()
        return ranking.without(trending, exclude)[: self._policy.top_n], Source.COLD_START

    async def _newest(self, since: datetime, now: datetime) -> list[Post]:
        """The newest posts created at or after `since`. A list read less than the cache time ago
        from an earlier `since` holds them: the newest posts after `since` are its prefix."""
        cached = self._new_posts
        if cached is not None and cached[1] <= since and now - cached[0] < self._policy.new_posts_cache:
            return [p for p in cached[2] if p.created_at >= since]
        posts = await self._posts.created_since(since, self._policy.new_posts_limit)
        self._new_posts = (now, since, posts)
        return posts

    @staticmethod
    def _result(
        command: GenerateRecommendationsCommand,
        visible: list[Recommendation],
        version: str | None,
        now: datetime,
        source: Source,
    ) -> RecommendationsResult:
        page = ranking.page(visible, command.offset, command.limit)
        return RecommendationsResult(command.user_id, page, len(visible), version, now, source)


def _replaced(kept: StoredList, check: ListCheck) -> bool:
    """Whether the database holds a newer list than the kept one (stored by another worker or the
    precompute job). An older one, or none, means this worker's newer list is not written yet (the
    writer runs in the background): the kept list stands."""
    return check.generated_at is not None and check.generated_at > kept.generated_at


def _post_ids(stored: StoredList) -> list[UUID]:
    return [r.post_id for r in stored.items]
