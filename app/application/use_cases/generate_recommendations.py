"""Generate a user's feed: a page of the user's stored list while it lasts, else a list computed now.

Words used here and across the service: a *stored list* is a ranked list in the database with a
TTL; a *kept list* is the copy of one a worker holds in memory; *computing* a list means ranking
now, with the model (then storing it) or, without model or history, with trending posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from uuid import UUID, uuid5

from anyio import to_thread

from app.application.dto import Cursor, GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.ports import KeptLists, KeptServedLists, ModelProvider
from app.application.use_cases.trending import TrendingPosts
from app.domain import ranking
from app.domain.entities import HistoryItem, Post, RankedPosts, Recommendation, ServedList, StoredList
from app.domain.ports import (
    Clock,
    InteractionRepository,
    ListCheck,
    PostRepository,
    RecommendationQuery,
    Recommender,
    ServedListRepository,
    StoredListRepository,
    StoredListWriter,
)
from app.shared.ids import uuid7

logger = logging.getLogger(__name__)

# Names the served list of a stored list, the same on every worker.
_LISTS = UUID("5b0c5a4e-8f0e-4d7e-9a51-3c1f4b2a9d60")


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    ttl: timedelta
    top_n: int
    # A served list stays readable this long after its last first page, for its cursors.
    cursor_ttl: timedelta = timedelta(hours=1)
    new_posts_window: timedelta = timedelta(hours=48)
    new_posts_limit: int = 500
    # Posts newer than the model are read at most this often per worker, not per request.
    new_posts_cache: timedelta = timedelta(seconds=10)

    @property
    def keep(self) -> timedelta:
        """How long a list may be served after it was made: a deleted post is remembered as long."""
        return max(self.ttl, self.cursor_ttl)


class GenerateRecommendations:
    def __init__(
        self,
        *,
        posts: PostRepository,
        interactions: InteractionRepository,
        lists: StoredListRepository,
        served: ServedListRepository,
        writer: StoredListWriter,
        kept: KeptLists,
        kept_served: KeptServedLists,
        models: ModelProvider,
        trending: TrendingPosts,
        clock: Clock,
        policy: RankingPolicy,
    ) -> None:
        self._posts = posts
        self._interactions = interactions
        self._lists = lists
        self._served = served
        self._writer = writer
        self._kept = kept
        self._kept_served = kept_served
        self._models = models
        self._trending = trending
        self._clock = clock
        self._policy = policy
        # (when read, from when, the posts): the newest posts, shared by every request for a while.
        self._new_posts: tuple[datetime, datetime, list[Post]] | None = None

    async def execute(self, command: GenerateRecommendationsCommand) -> RecommendationsResult:
        """Ranked posts for the user; never their own posts, never seen ones unless asked.

        With a cursor, the next page of the list it points to. Only the database reads are
        awaited here; the model ranks in a worker thread."""
        now = self._clock.now()
        if command.cursor is not None:
            result = await self._next_page(command, command.cursor, now)
            if result is not None:
                return result
        first = await self._first_page(command, now)
        return replace(first, cursor_expired=True) if command.cursor is not None else first

    async def _first_page(
        self, command: GenerateRecommendationsCommand, now: datetime
    ) -> RecommendationsResult:
        model = self._models.current()
        # Stored lists are ranked without seen posts, so they serve only exclude_seen requests.
        storable = model is not None and command.exclude_seen and self._policy.ttl > timedelta(0)
        if storable and model is not None:
            found = await self._stored_list(command.user_id, model.version, now)
            if found is not None:
                stored, check = found
                served = self._served_list(stored.user_id, stored.model_version, Source.STORED, stored, now)
                others = check.gone | command.exclude_post_ids
                result = self._page(command, served, check.seen, others, now, Source.STORED)
                if result.total:  # else the user has seen it all: compute a new one
                    return result
        ranked, source = await self._computed(command, model, now)
        version = model.version if model else None
        stored = StoredList(command.user_id, version or "", now, now + self._policy.ttl, RankedPosts(ranked))
        if storable and ranked and source is Source.MODEL:
            # Cold-start lists are never stored: the user's first interactions must count at once.
            self._kept.put(stored)
            self._writer.save(stored)
        served = self._served_list(command.user_id, version, source, stored, now)
        return self._page(command, served, set(), command.exclude_post_ids, now, source)

    async def _next_page(
        self, command: GenerateRecommendationsCommand, cursor: Cursor, now: datetime
    ) -> RecommendationsResult | None:
        """The page of the cursor's list from its position, or None when the list is gone."""
        served = self._kept_served.get(cursor.list_id, now) or await self._served.get(cursor.list_id, now)
        if served is None or served.user_id != command.user_id:
            return None
        self._kept_served.put(served)
        check = await self._lists.check(command.user_id, served.model_version or "", now, served.items)
        if not check.user_known:
            return None
        seen = check.seen if command.exclude_seen else set()
        others = check.gone | command.exclude_post_ids
        return self._page(command, served, seen, others, now, Source(served.source), start=cursor.position)

    def _served_list(
        self, user_id: UUID, version: str | None, source: Source, stored: StoredList, now: datetime
    ) -> ServedList:
        """The served list for a first page: a stored list's id is derived from the list, so every
        worker names it the same and saves it once per half cursor-lifetime; any other list is
        new."""
        if source is Source.COLD_START:
            list_id = uuid7()
        else:
            list_id = _stored_list_id(user_id, stored.model_version, stored.generated_at)
            kept = self._kept_served.get(list_id, now)
            if kept is not None and kept.expires_at - now > self._policy.cursor_ttl / 2:
                return kept
        return ServedList(
            list_id, user_id, version, source.value, now + self._policy.cursor_ttl, stored.items
        )

    def _page(
        self,
        command: GenerateRecommendationsCommand,
        served: ServedList,
        seen: set[UUID],
        others: frozenset[UUID] | set[UUID],
        now: datetime,
        source: Source,
        *,
        start: int | None = None,
    ) -> RecommendationsResult:
        """The page from `start` (or `command.offset`), without `seen` (posts of the list) and
        `others` (posts that may or may not be in it)."""
        hidden = frozenset(seen | others)
        if start is None:
            start = ranking.position_of(served.items, hidden, command.offset)
        page, next_position = ranking.scroll(served.items, hidden, start, command.limit)
        if next_position is not None and self._kept_served.get(served.id, now) is not served:
            # Only a list with pages left needs to be found again.
            self._kept_served.put(served)
            self._writer.save_served(served)
        # Counted from the few hidden posts, not by hashing every post of the list again.
        extra = {u.int for u in others - seen}
        total = (
            len(served.items) - len(seen) - (sum(1 for i in served.items.ids if i in extra) if extra else 0)
        )
        return RecommendationsResult(
            user_id=command.user_id,
            recommendations=page,
            total=total,
            model_version=served.model_version,
            generated_at=now,
            source=source,
            recommendation_id=served.id,
            next_cursor=Cursor(served.id, next_position) if next_position is not None else None,
        )

    async def _stored_list(
        self, user_id: UUID, version: str, now: datetime
    ) -> tuple[StoredList, ListCheck] | None:
        """The user's stored list, the kept copy unless the database holds a newer one, and what
        to leave out of it (seen, deleted). Who has seen what always comes from the database: a
        post tracked a second ago, on any worker, is left out."""
        kept = self._kept.get(user_id, version, now)
        if kept is not None:
            check = await self._lists.check(user_id, version, now, kept.items)
            if check.user_known and not _replaced(kept, check):
                return kept, check
            self._kept.discard(user_id)
        stored = await self._lists.read(user_id, version, now)
        if stored is None:
            return None
        self._kept.put(stored)
        check = await self._lists.check(user_id, version, now, stored.items)
        return stored, check

    async def _computed(
        self, command: GenerateRecommendationsCommand, model: Recommender | None, now: datetime
    ) -> tuple[list[Recommendation], Source]:
        """Always top_n long, so pages and totals do not depend on which request computed it."""
        user_id = command.user_id
        never = await self._posts.ids_by_author(user_id)
        # The model folds in the history; otherwise the seen ids are all that is needed.
        history: list[HistoryItem] = await self._interactions.history(user_id) if model else []
        seen = {i.post_id for i in history} if model else await self._interactions.seen_post_ids(user_id)
        gone = await self._posts.deleted_ids()
        exclude = frozenset(never | gone | (seen if command.exclude_seen else set()))
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


def _replaced(kept: StoredList, check: ListCheck) -> bool:
    """Whether the database holds a newer list than the kept one (stored by another worker or the
    precompute job). An older one, or none, means this worker's newer list is not written yet (the
    writer runs in the background): the kept list stands."""
    return check.generated_at is not None and check.generated_at > kept.generated_at


@lru_cache(maxsize=8192)
def _stored_list_id(user_id: UUID, model_version: str, generated_at: datetime) -> UUID:
    """The served list id of a stored list: the same on every worker."""
    return uuid5(_LISTS, f"{user_id}/{model_version}/{generated_at.isoformat()}")
