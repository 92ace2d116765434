"""Per-post features aligned with the matrix columns: age, author popularity, engagement, trending."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from app.infrastructure.ml.matrix import (
    DEFAULT_WEIGHTS,
    FloatArray,
    InteractionMatrix,
    decay_factor,
    hours_before,
    interaction_weights_column,
    is_dated,
)

if TYPE_CHECKING:  # pandas is imported by the functions that build features, never by serving
    import pandas as pd

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PostFeatures:
    """Arrays indexed like the matrix columns. Scores are in [0, 1]; times are hours since epoch."""

    created_hours: npt.NDArray[np.float64]
    author_codes: npt.NDArray[np.int32]
    author_ids: npt.NDArray[np.object_]
    author_popularity: FloatArray
    engagement: FloatArray
    trending: FloatArray


def _unit_log_scale(values: npt.NDArray[np.float64]) -> FloatArray:
    """log1p then divide by the max, so heavy tails still spread over [0, 1]."""
    logged = np.log1p(np.clip(values, 0.0, None))
    top = float(logged.max()) if logged.size else 0.0
    return (logged / top if top > 0 else np.zeros_like(logged)).astype(np.float32)


def to_epoch_hours(timestamps: pd.Series) -> npt.NDArray[np.float64]:
    """Hours since the Unix epoch of tz-aware (or UTC-naive) timestamps."""
    return -hours_before(_EPOCH, timestamps)


def build_post_features(
    data: InteractionMatrix,
    interactions: pd.DataFrame,
    *,
    posts: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    trending_half_life_hours: float = 72.0,
) -> PostFeatures:
    """Features for every matrix column; without a posts frame (external data) a post's creation
    time is its first interaction and it has no author. Without interaction timestamps a post
    is created at `data.trained_at` and trending is plain engagement (nothing decays)."""
    import pandas as pd

    n_posts = len(data.post_ids)
    index = pd.Index(data.post_ids.astype(str))
    codes = index.get_indexer(interactions["post_id"].astype(str))
    w = interaction_weights_column(interactions, weights).astype(np.float64)
    engagement = np.bincount(codes, weights=w, minlength=n_posts).astype(np.float64)
    trending = engagement.copy()
    created = np.full(n_posts, np.inf)
    if is_dated(interactions):
        age = hours_before(data.trained_at, interactions["created_at"])
        decayed = w * decay_factor(age, trending_half_life_hours)
        trending = np.bincount(codes, weights=decayed, minlength=n_posts).astype(np.float64)
        np.minimum.at(created, codes, to_epoch_hours(interactions["created_at"]))
    author_codes = np.full(n_posts, -1, dtype=np.int32)
    author_ids: npt.NDArray[np.object_] = np.empty(0, dtype=object)
    if posts is not None and not posts.empty:
        rows = index.get_indexer(posts["id"].astype(str))
        ok = rows >= 0
        created[rows[ok]] = to_epoch_hours(posts["created_at"])[ok]
        a_codes, a_uniques = pd.factorize(posts["author_id"].astype(str))
        author_codes[rows[ok]] = a_codes[ok]
        author_ids = np.asarray(a_uniques, dtype=object)
    created[~np.isfinite(created)] = to_epoch_hours(pd.Series([data.trained_at]))[0]
    popularity = _author_popularity(author_codes, author_ids, engagement, users)
    return PostFeatures(
        created_hours=created,
        author_codes=author_codes,
        author_ids=author_ids,
        author_popularity=popularity,
        engagement=_unit_log_scale(engagement),
        trending=(trending / trending.max() if trending.max() > 0 else trending).astype(np.float32),
    )


def _author_popularity(
    author_codes: npt.NDArray[np.int32],
    author_ids: npt.NDArray[np.object_],
    engagement: npt.NDArray[np.float64],
    users: pd.DataFrame | None,
) -> FloatArray:
    """Per-post author popularity in [0, 1]: log follower count when known, else the author's
    total engagement; 0 for posts without an author."""
    import pandas as pd

    n_authors = len(author_ids)
    has_author = author_codes >= 0
    if n_authors == 0:
        return np.zeros(len(author_codes), dtype=np.float32)
    if users is not None and "follower_count" in users.columns:
        followers = pd.Series(users["follower_count"].to_numpy(), index=users["id"].astype(str))
        per_author = followers.reindex(author_ids.astype(str)).fillna(0).to_numpy(dtype=np.float64)
    else:
        per_author = np.bincount(
            author_codes[has_author], weights=engagement[has_author], minlength=n_authors
        ).astype(np.float64)
    scaled = _unit_log_scale(per_author)
    out = np.zeros(len(author_codes), dtype=np.float32)
    out[has_author] = scaled[author_codes[has_author]]
    return out


def author_popularity_lookup(features: PostFeatures) -> dict[str, float]:
    """Author id → popularity in [0, 1], for posts created after training (new posts)."""
    best: dict[str, float] = {}
    for code, pop in zip(features.author_codes.tolist(), features.author_popularity.tolist(), strict=True):
        if code >= 0:
            best[str(features.author_ids[code])] = pop
    return best
