"""Score components and the blend: recency decay, the new-post boost, weights and reasons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.domain.entities import Reason
from app.infrastructure.ml.matrix import FloatArray, IntArray

COMPONENT_REASONS = (Reason.COLLABORATIVE_FILTERING, Reason.CONTENT_SIMILARITY, Reason.RECENCY)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Component scores (each in [0, 1]) of the posts being ranked, aligned by position.

    `keys` are catalogue column indices for training posts and -1 - i for the i-th fresh post.
    """

    keys: IntArray
    cf: FloatArray
    content: FloatArray
    recency: FloatArray
    is_new: npt.NDArray[np.bool_]


def recency_scores(
    created_hours: npt.NDArray[np.float64], now_hours: float, half_life_hours: float
) -> FloatArray:
    """0.5 ** (age / half_life) in (0, 1]; posts from the future count as brand new."""
    age = np.clip(now_hours - created_hours, 0.0, None)
    return np.exp2(-age / half_life_hours).astype(np.float32)


def boosted_recency(recency: FloatArray, popularity: FloatArray, boost: float) -> FloatArray:
    """Recency scaled by popularity in [0, 1]: a new post from a popular author or with early
    engagement keeps its full recency, an unknown one keeps (1 - boost) of it."""
    return (recency * ((1.0 - boost) + boost * np.clip(popularity, 0.0, 1.0))).astype(np.float32)


def normalise_by_max(values: FloatArray) -> FloatArray:
    """Divide by the max so the best candidate scores 1 (all zeros stay zeros)."""
    top = float(values.max()) if values.size else 0.0
    return (values / top).astype(np.float32) if top > 0 else values.astype(np.float32)


def blend(
    candidates: Candidates, weights: tuple[float, float, float]
) -> tuple[FloatArray, npt.NDArray[np.object_]]:
    """Final scores in [0, 1] (weights are normalised to sum to 1) and each post's reason:
    the component contributing most, with recency reported as new_post for new posts."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("blend weights must not all be zero")
    parts = np.stack([candidates.cf, candidates.content, candidates.recency]) * (
        np.asarray(weights, dtype=np.float32)[:, None] / total
    )
    final = np.clip(parts.sum(axis=0), 0.0, 1.0).astype(np.float32)
    reasons = np.asarray(COMPONENT_REASONS, dtype=object)[np.argmax(parts, axis=0)]
    reasons[(reasons == Reason.RECENCY) & candidates.is_new] = Reason.NEW_POST
    return final, reasons


def top_n(scores: FloatArray, n: int) -> IntArray:
    """Positions of the n best scores, best first; ties keep the earlier position."""
    if n <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int32)
    if n >= scores.size:
        return np.argsort(-scores, kind="stable").astype(np.int32)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.lexsort((part, -scores[part]))].astype(np.int32)
