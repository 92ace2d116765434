"""Offline evaluation: a freshly fitted model against popularity and random baselines.

`python -m training.evaluate --input data/fake_interactions.json` splits per user (temporal by
default), fits on train, ranks the training catalogue for each test user with their training
posts removed, and reports P/R/NDCG/MAP@K and coverage for every ranker.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender
from training.datasets import load_interaction_file
from training.metrics import ranking_metrics
from training.splits import random_split, temporal_split

IntArray = npt.NDArray[np.int32]
# (training user row, catalogue columns to leave out, n) → up to n columns, best first.
Ranker = Callable[[int, IntArray, int], IntArray]
DEFAULT_INPUT = Path("data/fake_interactions.json")


@dataclass(frozen=True, slots=True)
class EvaluationSet:
    """Test users as training rows, with their training posts and held-out relevant posts (columns)."""

    rows: IntArray
    seen: list[IntArray]
    relevant: list[IntArray]
    n_items: int


def build_evaluation_set(
    matrix: sp.csr_matrix,
    user_index: Mapping[str, int],
    post_index: Mapping[str, int],
    test: pd.DataFrame,
    max_users: int | None = None,
    seed: int = 0,
) -> EvaluationSet:
    """Relevant posts are a user's test posts that the model knows and the user did not already
    touch in train; users left with none (or unknown to train) are skipped."""
    users = test["user_id"].astype(str).map(user_index)
    posts = test["post_id"].astype(str).map(post_index)
    known = users.notna() & posts.notna()
    u = users[known].to_numpy(dtype=np.int64)
    p = posts[known].to_numpy(dtype=np.int64)
    order = np.argsort(u, kind="stable")
    u, p = u[order], p[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.empty(0, dtype=np.int64)
    rows: list[int] = []
    seen: list[IntArray] = []
    relevant: list[IntArray] = []
    for row, group in zip(u[starts].tolist(), np.split(p, starts[1:]), strict=True):
        train_cols = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
        rel = np.setdiff1d(group, train_cols).astype(np.int32)
        if len(rel):
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
    """Metrics per ranker name (see training.metrics.ranking_metrics for the keys)."""
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
        out[name] = ranking_metrics(recommended, eval_set.relevant, k_values, eval_set.n_items)
    return out


def evaluate_model(
    model: KnnRecommender,
    test: pd.DataFrame,
    k_values: Sequence[int] = (5, 10),
    *,
    baselines: bool = True,
    max_users: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a model fitted on the train side of a split on its test side.

    Returns {"model": metrics, "popularity": ..., "random": ..., "users": n, "items": n}.
    """
    eval_set = build_evaluation_set(
        model.matrix_, model.user_index_, model.post_index_, test, max_users=max_users, seed=seed
    )
    rankers: dict[str, Ranker] = {"model": knn_ranker(model)}
    if baselines:
        rankers["popularity"] = popularity_ranker(model.matrix_)
        rankers["random"] = random_ranker(model.n_posts, seed)
    result: dict[str, Any] = evaluate_rankers(rankers, eval_set, k_values, progress)
    result["users"] = len(eval_set.rows)
    result["items"] = eval_set.n_items
    return result


def format_table(result: Mapping[str, Any], k_values: Sequence[int] = (5, 10)) -> str:
    """A plain-text table: one row per ranker, one column per metric."""
    names = [n for n, v in result.items() if isinstance(v, dict) and f"ndcg@{k_values[0]}" in v]
    cols = [f"{m}@{k}" for k in k_values for m in ("precision", "recall", "ndcg", "map", "coverage")]
    lines = ["ranker".ljust(12) + "".join(c.rjust(13) for c in cols)]
    lines += [n.ljust(12) + "".join(f"{result[n][c]:13.4f}" for c in cols) for n in names]
    lines.append(f"users evaluated: {result.get('users')}, catalogue: {result.get('items')} posts")
    return "\n".join(lines)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate the KNN recommender against baselines.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--input", type=Path, help=f"generated dataset (.json/.jsonl), default {DEFAULT_INPUT}"
    )
    source.add_argument("--dataset", type=Path, help="external interaction file, see --format")
    source.add_argument(
        "--database-url",
        nargs="?",
        const="",
        help="evaluate on the service database (DATABASE_URL or the embedded default when no URL is given)",
    )
    parser.add_argument("--format", choices=("csv", "movielens"), default="csv")
    parser.add_argument("--split", choices=("temporal", "random"), default="temporal")
    parser.add_argument("--test-fraction", type=float, default=None, help="0.2 temporal, 0.25 random")
    parser.add_argument("--min-interactions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--max-users", type=int, default=None, help="evaluate a random sample of test users")
    parser.add_argument("--tune", action="store_true", help="tune KNN on a validation cut of train first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def load_source(
    input_path: Path | None, dataset: Path | None, fmt: str = "csv", database_url: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(interactions, posts, users) from the database, a generated dataset or an external file."""
    if database_url is not None:
        from app.infrastructure.config import Settings
        from training.sources import load_database

        data = load_database(database_url or Settings().database_url)
        return data.interactions, data.posts, data.users
    if dataset is not None:
        return load_interaction_file(dataset, fmt), None, None
    from data.io import load_frames

    frames = load_frames(input_path or DEFAULT_INPUT)
    return frames.interactions, frames.posts, frames.users


def split_interactions(
    interactions: pd.DataFrame, split: str, test_fraction: float | None, seed: int, min_interactions: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dispatch to temporal_split (default fraction 0.2) or random_split (0.25)."""
    if split == "temporal":
        return temporal_split(interactions, test_fraction or 0.2, min_interactions)
    if split == "random":
        return random_split(interactions, test_fraction or 0.25, seed, min_interactions)
    raise ValueError(f"unknown split {split!r}")


def fit_and_evaluate(
    train: pd.DataFrame,
    test: pd.DataFrame,
    posts: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    config: KnnConfig | None = None,
    k_values: Sequence[int] = (5, 10),
    *,
    tune: bool = False,
    max_users: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit on train (after tuning on a validation cut of train when asked) and evaluate on test.

    Without post text (external data) the content weight is forced to 0.
    """
    cfg = config or KnnConfig()
    if posts is None:
        cfg = cfg.with_changes(blend_content=0.0)
    trials: list[dict[str, Any]] = []
    if tune:
        from training.tuning import tune_on_validation  # tuning itself evaluates with this module

        cfg, trials = tune_on_validation(train, posts, users, cfg, seed=seed, progress=progress)
    bar = tqdm(total=train["user_id"].nunique(), desc="neighbours", file=sys.stderr, disable=not progress)
    model = KnnRecommender(cfg).fit(train, posts, users, progress=lambda n: _advance(bar, n))
    bar.close()
    result = evaluate_model(model, test, k_values, max_users=max_users, seed=seed, progress=progress)
    result["config"] = cfg.as_dict()
    if trials:
        result["tuning"] = trials
    return result


def _advance(bar: tqdm[Any], n: int) -> None:
    bar.update(n)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        interactions, posts, users = load_source(args.input, args.dataset, args.format, args.database_url)
    except (FileNotFoundError, ValueError) as error:
        print(f"evaluation failed: {error}", file=sys.stderr)
        return 1
    train, test = split_interactions(
        interactions, args.split, args.test_fraction, args.seed, args.min_interactions
    )
    result = fit_and_evaluate(
        train,
        test,
        posts,
        users,
        k_values=args.k,
        tune=args.tune,
        max_users=args.max_users,
        seed=args.seed,
        progress=True,
    )
    result["split"] = {"kind": args.split, "train": len(train), "test": len(test), "seed": args.seed}
    print(json.dumps(result, indent=2, default=str) if args.json else format_table(result, args.k))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
