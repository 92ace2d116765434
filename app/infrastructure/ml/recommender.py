"""KnnRecommender: user-KNN collaborative filtering blended with content and recency."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

import numpy as np

from app.domain.entities import Post, Reason, Recommendation
from app.domain.ports import RecommendationQuery
from app.infrastructure.ml.collaborative_filter import UserKnn
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.content_scorer import ContentScorer, post_text
from app.infrastructure.ml.ease import Ease
from app.infrastructure.ml.features import PostFeatures, author_popularity_lookup
from app.infrastructure.ml.matrix import (
    FloatArray,
    IntArray,
    InteractionMatrix,
    history_row,
)
from app.infrastructure.ml.scoring import (
    Candidates,
    blend,
    boosted_recency,
    normalise_by_max,
    recency_scores,
    top_n,
)

if TYPE_CHECKING:  # fitting takes frames; serving never imports pandas
    import pandas as pd

Ranked = tuple[IntArray, FloatArray, list[Reason]]


def as_uuid(value: str) -> UUID:
    """The id as a UUID; ids from external datasets (e.g. MovieLens integers) get a stable uuid5."""
    try:
        return UUID(value)
    except ValueError:
        return uuid5(NAMESPACE_URL, value)


def canonical_id(value: object) -> str:
    """The key a model indexes an id by: the id's UUID as text, so a model trained on integer
    ids (external datasets) answers queries that carry the uuid5 of those ids."""
    return str(as_uuid(str(value)))


def _canonical_index(ids: Iterable[object]) -> dict[str, int]:
    return {canonical_id(value): i for i, value in enumerate(ids)}


def _epoch_hours(moment: datetime) -> float:
    return moment.timestamp() / 3600.0


class KnnRecommender:
    """A fitted, self-contained recommender: neighbours, id maps, post features, the TF-IDF
    vocabulary and `config`. `trained_at` is the newest training interaction. model_state.py
    stores it as an artifact and reads it back."""

    def __init__(self, config: KnnConfig | None = None) -> None:
        self.config = config or KnnConfig()

    def fit(
        self,
        interactions: pd.DataFrame,
        posts: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> KnnRecommender:
        """Fit from frames shaped like data.io's (interactions need user_id, post_id,
        created_at and interaction_type or weight); posts give text, authors and ages."""
        from app.infrastructure.ml.preprocessing import preprocess

        prepared = preprocess(interactions, posts, users, self.config)
        return self.fit_prepared(prepared.data, prepared.features, prepared.texts, progress)

    def fit_prepared(
        self,
        data: InteractionMatrix,
        features: PostFeatures,
        texts: Sequence[str] | None,
        progress: Callable[[int], None] | None = None,
    ) -> KnnRecommender:
        """Fit from an already built matrix and features; `texts` aligned with the columns,
        None (or a zero content weight) disables content similarity."""
        cfg = self.config
        self.trained_at = data.trained_at
        self.matrix_ = data.matrix
        self.user_index_ = _canonical_index(data.user_ids)
        self.post_index_ = _canonical_index(data.post_ids)
        self.post_uuids_ = [as_uuid(str(p)) for p in data.post_ids]
        self.engine_ = _engine(cfg).fit(data.matrix, progress)
        self.content_: ContentScorer | None = None
        if texts is not None and cfg.blend_content > 0 and any(t.strip() for t in texts):
            self.content_ = ContentScorer(max_features=cfg.tfidf_max_features).fit(texts)
        return self.with_features(features)

    def with_features(self, features: PostFeatures) -> KnnRecommender:
        """Sets the post features and the author lookups derived from them (fit and load)."""
        self.features_ = features
        self.author_index_ = _canonical_index(features.author_ids)
        self.author_popularity_ = {canonical_id(a): p for a, p in author_popularity_lookup(features).items()}
        return self

    @property
    def n_users(self) -> int:
        return len(self.user_index_)

    @property
    def n_posts(self) -> int:
        return len(self.post_uuids_)

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        """At most `query.limit` posts sorted by score in [0, 1], none in `query.exclude` nor
        written by the user. A known user whose history holds nothing newer than the model uses
        the precomputed neighbours; anyone else is folded in from `query.history`."""
        row = self.user_index_.get(str(query.user_id), -1)
        cols, vals = history_row(
            query.history,
            self.post_index_,
            weights=self.config.interaction_weights,
            half_life_hours=self.config.time_decay_half_life_hours,
            reference=query.now,
        )
        exclude = [self.post_index_[key] for key in map(str, query.exclude) if key in self.post_index_]
        own = self.author_index_.get(str(query.user_id), -1)
        new_posts = [p for p in query.new_posts if p.id not in query.exclude and p.author_id != query.user_id]
        new_posts = [p for p in new_posts if str(p.id) not in self.post_index_]
        if not query.history:
            keys, scores, reasons = self._trending(np.asarray(exclude, dtype=np.int32), own, query.limit)
        else:
            newer = any(item.created_at > self.trained_at for item in query.history)
            if row >= 0 and not newer:
                cf = self._cf(lambda: self.engine_.known_user_scores(row, cols, vals))
            else:
                cf = self._cf(lambda: self.engine_.history_scores(cols, vals, exclude_row=row))
            keys, scores, reasons = self.rank(
                cols,
                vals,
                cf,
                query.now,
                np.asarray(exclude, dtype=np.int32),
                query.limit,
                new_posts,
                own,
            )
        # Plain Python numbers first: converting numpy scalars one by one cost half of this loop.
        uuids = self.post_uuids_
        return [
            Recommendation(uuids[k] if k >= 0 else new_posts[-1 - k].id, s, r)
            for k, s, r in zip(np.asarray(keys).tolist(), np.asarray(scores).tolist(), reasons, strict=True)
        ]

    def rank_known_user(self, row: int, exclude: IntArray, n: int, now: datetime | None = None) -> Ranked:
        """Rank the catalogue for a training user (evaluation path): keys are column indices."""
        start, stop = self.matrix_.indptr[row], self.matrix_.indptr[row + 1]
        cols, vals = self.matrix_.indices[start:stop], self.matrix_.data[start:stop]
        cf = self._cf(lambda: self.engine_.known_user_scores(row, cols, vals))
        return self.rank(cols, vals, cf, now or self.trained_at, exclude, n, (), -1)

    def _cf(self, compute: Callable[[], FloatArray]) -> FloatArray:
        """CF scores in [0, 1] per catalogue post; zeros when the blend gives CF no weight."""
        return compute() if self.config.blend_cf > 0 else np.zeros(self.n_posts, np.float32)

    def rank(
        self,
        cols: IntArray,
        vals: FloatArray,
        cf: FloatArray,
        now: datetime,
        exclude: IntArray,
        n: int,
        fresh: Sequence[Post],
        own_author: int,
    ) -> Ranked:
        """Top-n (keys, scores, reasons): keys ≥ 0 are columns, key -1-i is fresh post i."""
        cand = self._candidates(cols, vals, cf, now, exclude, fresh, own_author)
        if cand is None:
            return self._trending(exclude, own_author, n)
        final, reasons = blend(cand, self.config.blend_weights)
        best = top_n(final, n)
        return cand.keys[best], final[best], list(reasons[best])

    def _candidates(
        self,
        cols: IntArray,
        vals: FloatArray,
        cf: FloatArray,
        now: datetime,
        exclude: IntArray,
        fresh: Sequence[Post],
        own_author: int,
    ) -> Candidates | None:
        mask = cf > 0
        content = np.zeros(self.n_posts, dtype=np.float32)
        fresh_content = np.zeros(len(fresh), dtype=np.float32)
        if self.content_ is not None and len(cols):
            profile = self.content_.profile(cols, vals)
            content = self.content_.similarities(profile)
            k = min(self.config.content_candidates, self.n_posts)
            mask[np.argpartition(-content, k - 1)[:k]] = True
            fresh_content = self.content_.similarities_for_texts([_text_of(p) for p in fresh], profile)
        mask[exclude] = False
        if own_author >= 0:
            mask &= self.features_.author_codes != own_author
        keys = np.flatnonzero(mask).astype(np.int32)
        if len(keys) == 0 and not fresh:
            return None
        return self._assemble(keys, cf, content, fresh, fresh_content, _epoch_hours(now))

    def _assemble(
        self,
        keys: IntArray,
        cf: FloatArray,
        content: FloatArray,
        fresh: Sequence[Post],
        fresh_content: FloatArray,
        now_hours: float,
    ) -> Candidates:
        feats, cfg = self.features_, self.config
        created = np.concatenate([feats.created_hours[keys], [_epoch_hours(p.created_at) for p in fresh]])
        popularity = np.concatenate(
            [
                np.maximum(feats.author_popularity[keys], feats.engagement[keys]),
                [self.author_popularity_.get(str(p.author_id), 0.0) for p in fresh],
            ]
        ).astype(np.float32)
        recency = boosted_recency(
            recency_scores(created, now_hours, cfg.recency_half_life_hours), popularity, cfg.new_post_boost
        )
        is_new = now_hours - created <= cfg.new_post_window_hours
        is_new[len(keys) :] = True
        return Candidates(
            keys=np.concatenate([keys, -1 - np.arange(len(fresh), dtype=np.int32)]).astype(np.int32),
            cf=np.concatenate([cf[keys], np.zeros(len(fresh), dtype=np.float32)]),
            content=normalise_by_max(np.concatenate([content[keys], fresh_content]).astype(np.float32)),
            recency=recency,
            is_new=is_new,
        )

    def _trending(self, exclude: IntArray, own_author: int, n: int) -> Ranked:
        """Cold start: decayed training engagement in (0, 1], reason trending."""
        scores = self.features_.trending.copy()
        scores[exclude] = -1.0
        if own_author >= 0:
            scores[self.features_.author_codes == own_author] = -1.0
        best = top_n(scores, n)
        best = best[scores[best] > 0]  # a post nobody engaged with is not trending
        return best, scores[best], [Reason.TRENDING] * len(best)


def _engine(cfg: KnnConfig) -> UserKnn | Ease:
    """The collaborative engine `cfg.engine` names, with its hyperparameters."""
    if cfg.engine == "ease":
        return Ease(l2=cfg.ease_l2, max_items=cfg.ease_max_items, keep_per_item=cfg.ease_keep_per_item)
    return UserKnn(
        n_neighbors=cfg.n_neighbors,
        item_weighting=cfg.item_weighting,
        max_item_user_share=cfg.max_item_user_share,
        similarity_exponent=cfg.similarity_exponent,
        users_per_item_cap=cfg.users_per_item_cap,
        max_fold_in_candidates=cfg.max_fold_in_candidates,
        n_jobs=cfg.n_jobs,
    )


def _text_of(post: Post) -> str:
    return post_text(post.content, post.topic, post.hashtags)
