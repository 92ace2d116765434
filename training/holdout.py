"""Held-out evaluation sets and the rankers evaluated on them.

An evaluation set holds, per test user, their training row, the posts they touched in train
(left out of every ranking) and their held-out relevant posts. A ranker maps (row, posts to
leave out, n) to up to n catalogue columns, best first.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from app.infrastructure.ml.recommender import KnnRecommender, canonical_id
from training.metrics import ranking_metrics

IntArray = npt.NDArray[np.int32]
# (training user row, catalogue columns to leave out, n) → up to n columns, best first.
Ranker = Callable[[int, IntArray, int], IntArray]


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    """Test users as training rows, with their training posts and held-out relevant posts (columns)."""

    rows: IntArray
    seen: list[IntArray]
    relevant: list[IntArray]
    n_items: int


def _indexed(ids: pd.Series, index: Mapping[str, int]) -> pd.Series:
    """Each id's row or column in a model's index (keyed by canonical id), NaN when unknown."""
    raw = ids.astype(str)
    lookup = {value: index.get(canonical_id(value)) for value in raw.unique()}
    return raw.map(lookup).astype("float64")


def build_evaluation_set(
    matrix: sp.csr_matrix,
    user_index: Mapping[str, int],
    post_index: Mapping[str, int],
    test: pd.DataFrame,
    max_users: int | None = None,
    seed: int = 0,
    *,
    keep_seen_relevant: bool = False,
) -> EvaluationSet:
    """Relevant posts are a user's test posts that the model knows and, unless
    `keep_seen_relevant` (the msr protocol: every test row is relevant), that the user did not
    already touch in train; users left with none, or with no training post, are skipped."""
    users = _indexed(test["user_id"], user_index)
    posts = _indexed(test["post_id"], post_index)
    known = users.notna() & posts.notna()
    u = users[known].to_numpy(dtype=np.int64)
    p = posts[known].to_numpy(dtype=np.int64)
    order = np.argsort(u, kind="stable")
    u, p = u[order], p[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    rows: list[int] = []
    seen: list[IntArray] = []
    relevant: list[IntArray] = []
    groups = np.split(p, starts[1:]) if len(u) else []
    for row, group in zip(u[starts].tolist(), groups, strict=True):
        train_cols = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
        rel = (np.unique(group) if keep_seen_relevant else np.setdiff1d(group, train_cols)).astype(np.int32)
        if len(rel) and len(train_cols):
            rows.append(row)
            seen.append(train_cols.astype(np.int32))
            relevant.append(rel)
    if max_users is not None and len(rows) > max_users:
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), max_users, replace=False))
        rows, seen, relevant = [rows[i] for i in pick], [seen[i] for i in pick], [relevant[i] for i in pick]
    return EvaluationSet(np.asarray(rows, dtype=np.int32), seen, relevant, matrix.shape[1])


def _first_unseen(order: IntArray, exclude: IntArray, n: int) -> IntArray:
    head = order[: n + len(exclude)]
    return head[~np.isin(head, exclude)][:n]


def popularity_ranker(matrix: sp.csr_matrix) -> Ranker:
    """Most total training weight first, the same list for everyone."""
    order = np.argsort(-np.asarray(matrix.sum(axis=0)).ravel(), kind="stable").astype(np.int32)
    return lambda _row, exclude, n: _first_unseen(order, exclude, n)


def random_ranker(n_items: int, seed: int = 0) -> Ranker:
    """A uniformly random catalogue ordering per call (seeded, so runs repeat)."""
    rng = np.random.default_rng(seed)

    def rank(_row: int, exclude: IntArray, n: int) -> IntArray:
        draw = rng.choice(n_items, size=min(n_items, n + len(exclude)), replace=False).astype(np.int32)
        return _first_unseen(draw, exclude, n)

    return rank


def knn_ranker(model: KnnRecommender) -> Ranker:
    return lambda row, exclude, n: model.rank_known_user(row, exclude, n)[0]


def evaluate_rankers(
    rankers: Mapping[str, Ranker],
    eval_set: EvaluationSet,
    k_values: Sequence[int] = (5, 10),
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Metrics per ranker name (training.metrics.ranking_metrics's keys, "map" over max K)."""
    n = max(k_values)
    out: dict[str, dict[str, float]] = {}
    for name, ranker in rankers.items():
        users = tqdm(
            zip(eval_set.rows.tolist(), eval_set.seen, strict=True),
            total=len(eval_set.rows),
            desc=f"rank {name}",
            file=sys.stderr,
            leave=False,
            disable=not progress,
        )
        recommended = [ranker(row, seen, n) for row, seen in users]
        out[name] = ranking_metrics(recommended, eval_set.relevant, k_values, eval_set.n_items, map_k=n)
    return out
