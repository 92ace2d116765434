"""Frames → the sparse weighted user×post matrix, per-post features and post texts.

Source-agnostic: callers load frames from the database, a generated file or an external
dataset and pass DataFrames in. Training (`training.preprocess`) and `KnnRecommender.fit`
share this one implementation, so serving never re-derives preprocessing differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.content_scorer import post_text
from app.infrastructure.ml.features import PostFeatures, build_post_features
from app.infrastructure.ml.matrix import InteractionMatrix, build_interaction_matrix


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """Everything `KnnRecommender.fit_prepared` needs; `texts` is None without post text."""

    data: InteractionMatrix
    features: PostFeatures
    texts: list[str] | None


def preprocess(
    interactions: pd.DataFrame,
    posts: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    config: KnnConfig | None = None,
) -> Preprocessed:
    """Build the CSR matrix (summed, optionally time-decayed weights), features and texts.

    `interactions` needs user_id, post_id and interaction_type or a numeric weight column;
    created_at (tz-aware) is optional (without it nothing decays, see build_interaction_matrix),
    and so are posts and users (external datasets have neither).
    """
    cfg = config or KnnConfig()
    post_ids = posts["id"].astype(str).tolist() if posts is not None else []
    data = build_interaction_matrix(
        interactions,
        weights=cfg.interaction_weights,
        half_life_hours=cfg.time_decay_half_life_hours,
        post_ids=post_ids,
    )
    features = build_post_features(
        data,
        interactions,
        posts=posts,
        users=users,
        weights=cfg.interaction_weights,
        trending_half_life_hours=cfg.trending_half_life_hours,
    )
    return Preprocessed(data=data, features=features, texts=catalogue_texts(data, posts))


def catalogue_texts(data: InteractionMatrix, posts: pd.DataFrame | None) -> list[str] | None:
    """Post texts aligned with the matrix columns; None when there is no text at all."""
    if posts is None or posts.empty or "content" not in posts.columns:
        return None
    topics = posts["topic"] if "topic" in posts.columns else pd.Series([None] * len(posts))
    tags = posts["hashtags"] if "hashtags" in posts.columns else pd.Series([()] * len(posts))
    texts = [
        post_text(c, t, h if isinstance(h, list | tuple) else ())
        for c, t, h in zip(posts["content"].tolist(), topics.tolist(), tags.tolist(), strict=True)
    ]
    by_id = dict(zip(posts["id"].astype(str).tolist(), texts, strict=True))
    return [by_id.get(str(p), "") for p in data.post_ids]
