"""User-KNN hyperparameter search on a validation cut of the TRAINING data (never the test split)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from itertools import product
from typing import Any

import pandas as pd
from tqdm import tqdm

from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender
from training.evaluate import build_evaluation_set, evaluate_rankers, knn_ranker
from training.splits import temporal_split

DEFAULT_GRID: dict[str, Sequence[Any]] = {
    "item_weighting": ("none", "idf", "bm25"),
    "n_neighbors": (20, 50, 100, 200),
    "similarity_exponent": (1.0, 2.0),
}


def tune_on_validation(
    train: pd.DataFrame,
    posts: pd.DataFrame | None,
    users: pd.DataFrame | None,
    base: KnnConfig,
    *,
    grid: dict[str, Sequence[Any]] | None = None,
    metric: str = "ndcg@10",
    validation_fraction: float = 0.2,
    max_users: int | None = 3000,
    seed: int = 0,
    progress: bool = False,
) -> tuple[KnnConfig, list[dict[str, Any]]]:
    """The best config by `metric` over the grid, and every trial as a dict.

    Neighbours are fitted once per item weighting with the largest k; smaller k and the
    similarity exponent only change how stored neighbours are read, so they need no refit.
    """
    grid = {**DEFAULT_GRID, **(grid or {})}
    fit_part, valid_part = temporal_split(train, validation_fraction)
    k_max = max(grid["n_neighbors"])
    trials: list[dict[str, Any]] = []
    weightings = tqdm(grid["item_weighting"], desc="tuning", file=sys.stderr, disable=not progress)
    for weighting in weightings:
        cfg = base.with_changes(item_weighting=weighting, n_neighbors=k_max)
        model = KnnRecommender(cfg).fit(fit_part, posts, users)
        eval_set = build_evaluation_set(
            model.matrix_, model.user_index_, model.post_index_, valid_part, max_users=max_users, seed=seed
        )
        for k, exponent in product(grid["n_neighbors"], grid["similarity_exponent"]):
            model.knn_.n_neighbors, model.knn_.similarity_exponent = k, exponent
            score = evaluate_rankers({"m": knn_ranker(model)}, eval_set, (10,))["m"]
            params = {"item_weighting": weighting, "n_neighbors": k, "similarity_exponent": exponent}
            trials.append({**params, metric: score[metric], "validation_users": len(eval_set.rows)})
    best = max(trials, key=lambda t: t[metric])
    chosen = base.with_changes(
        item_weighting=best["item_weighting"],
        n_neighbors=best["n_neighbors"],
        similarity_exponent=best["similarity_exponent"],
    )
    return chosen, trials
