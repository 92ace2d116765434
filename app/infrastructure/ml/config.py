"""Every hyperparameter of the KNN recommender, recorded with each model in the registry."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from app.infrastructure.ml.matrix import DEFAULT_WEIGHTS

ENGINES = ("user_knn", "ease")


def _default_weights() -> dict[str, float]:
    return dict(DEFAULT_WEIGHTS)


@dataclass(frozen=True, slots=True)
class KnnConfig:
    """Hyperparameters; times are in hours, weights are non-negative."""

    interaction_weights: dict[str, float] = field(default_factory=_default_weights)
    # Matrix: None keeps every interaction at full weight whatever its age.
    time_decay_half_life_hours: float | None = None
    # The collaborative engine behind the CF score: one of ENGINES.
    engine: str = "user_knn"
    # User-KNN. Defaults chosen on three development sets (two public logs and generated
    # data, docs/benchmarks.md); the tuner searches all four. The popularity cutoff is off:
    # it helped only on generated data and removed most of the signal from real logs.
    n_neighbors: int = 100
    item_weighting: str = "bm25"
    # Posts touched by more than this share of users are left out of user-user similarity.
    max_item_user_share: float = 1.0
    similarity_exponent: float = 2.0
    users_per_item_cap: int = 1000
    max_fold_in_candidates: int = 2000
    # EASE: λ relative to the mean diagonal of the Gram matrix; the densest posts it inverts.
    ease_l2: float = 30.0
    ease_max_items: int = 10_000
    ease_keep_per_item: int = 1024
    # Blend: final = (cf·w_cf + content·w_content + recency·w_recency) / Σw.
    blend_cf: float = 0.7
    blend_content: float = 0.2
    blend_recency: float = 0.1
    recency_half_life_hours: float = 72.0
    trending_half_life_hours: float = 72.0
    new_post_boost: float = 0.5
    new_post_window_hours: float = 48.0
    content_candidates: int = 200
    tfidf_max_features: int = 50_000
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; expected one of {', '.join(ENGINES)}")
        if self.n_neighbors < 1:
            raise ValueError("n_neighbors must be at least 1")
        if min(self.blend_cf, self.blend_content, self.blend_recency) < 0:
            raise ValueError("blend weights must be non-negative")
        if self.blend_cf + self.blend_content + self.blend_recency <= 0:
            raise ValueError("at least one blend weight must be positive")
        if not 0.0 <= self.new_post_boost <= 1.0:
            raise ValueError("new_post_boost must be in [0, 1]")

    @property
    def blend_weights(self) -> tuple[float, float, float]:
        return (self.blend_cf, self.blend_content, self.blend_recency)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, as stored in the registry."""
        return asdict(self)

    def with_changes(self, **changes: Any) -> KnnConfig:
        return replace(self, **changes)
