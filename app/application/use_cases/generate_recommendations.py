"""Generate a user's feed: fresh precomputed rows when there are some, else compute and store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from app.application.dto import GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.ports import ModelProvider
from app.application.use_cases.trending import TrendingPosts
from app.domain import ranking
from app.domain.entities import Interaction, Recommendation
from app.domain.ports import Clock, RecommendationQuery, Recommender, UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    ttl: timedelta
    top_n: int
    fresh_posts_window: timedelta = timedelta(hours=48)
    fresh_posts_limit: int = 500


class GenerateRecommendations:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        models: ModelProvider,
        trending: TrendingPosts,
        clock: Clock,
        policy: RankingPolicy,
    ) -> None:
        self._uow_factory = uow_factory
        self._models = models
        self._trending = trending
        self._clock = clock
        self._policy = policy

    def execute(self, command: GenerateRecommendationsCommand) -> RecommendationsResult:
        """Ranked posts for the user; never their own posts, never seen ones unless asked."""
        now = self._clock.now()
        model = self._models.current()
        version = model.version if model else None
        wanted = max(self._policy.top_n, command.offset + command.limit)
        with self._uow_factory() as uow:
            history = uow.interactions.for_user(command.user_id)
            never = frozenset(uow.posts.ids_by_author(command.user_id))
            seen = frozenset(i.post_id for i in history)
            # Stored rows are ranked without seen posts, so they can only serve exclude_seen requests.
            cacheable = command.exclude_seen and self._policy.ttl > timedelta(0)
            ranked: list[Recommendation] = []
            source = Source.PRECOMPUTED
            if cacheable and version is not None:
                ranked = uow.recommendations.fresh_for_user(command.user_id, now, version)
            if not ranked:
                base_exclude = never | seen if command.exclude_seen else never
                ranked, source = self._compute(uow, model, command.user_id, history, base_exclude, wanted)
                # Cold-start lists are not stored: the user's first interactions must count at once.
                if cacheable and ranked and source is Source.MODEL and version is not None:
                    uow.recommendations.replace_for_user(
                        command.user_id,
                        ranked,
                        model_version=version,
                        generated_at=now,
                        expires_at=now + self._policy.ttl,
                    )
                    uow.commit()
        exclude = never | command.exclude_post_ids | (seen if command.exclude_seen else frozenset())
        visible = ranking.without(ranked, exclude)
        return RecommendationsResult(
            user_id=command.user_id,
            recommendations=ranking.page(visible, command.offset, command.limit),
            total=len(visible),
            model_version=version,
            generated_at=now,
            source=source,
        )

    def _compute(
        self,
        uow: UnitOfWork,
        model: Recommender | None,
        user_id: UUID,
        history: list[Interaction],
        exclude: frozenset[UUID],
        wanted: int,
    ) -> tuple[list[Recommendation], Source]:
        if model is not None and history:
            now = self._clock.now()
            # Only posts the model has never seen need to be scored from their content.
            since = max(model.trained_at, now - self._policy.fresh_posts_window)
            fresh = uow.posts.created_since(since, self._policy.fresh_posts_limit)
            query = RecommendationQuery(user_id, history, exclude, wanted, now, fresh_posts=fresh)
            try:
                return model.recommend(query), Source.MODEL
            except Exception:  # a faulty model degrades this answer to trending; it never fails it
                logger.exception("model %s failed, serving trending", model.version)
        return ranking.without(self._trending.execute(), exclude)[:wanted], Source.COLD_START
