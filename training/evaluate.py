"""Offline evaluation: freshly fitted models against popularity and random baselines.

uv run python -m training.evaluate                          # the service database
uv run python -m training.evaluate --input data/fake_interactions.json
uv run python -m training.evaluate --dataset ratings.csv --protocol msr --engine user_knn

Protocols: "temporal" (default: each user's last 20% of events are test), "random" (25% of
each user's posts) and "msr", Microsoft Recommenders' benchmark (binary feedback, a 75/25
split stratified per item with seed 42, every test item relevant). Each ranker ranks the
training catalogue for each test user with their training posts removed; the report holds
P/R/NDCG/MAP@K, coverage@K and "map" (hits' precision over the top max K, divided by all of
the user's test items).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from app.infrastructure.jobs import run_job
from app.infrastructure.ml.config import ENGINES, KnnConfig
from app.infrastructure.ml.matrix import is_dated
from app.infrastructure.ml.recommender import KnnRecommender
from training.datasets import FORMATS, load_source, parse_layout
from training.holdout import (
    Ranker,
    build_evaluation_set,
    evaluate_rankers,
    knn_ranker,
    popularity_ranker,
    random_ranker,
)
from training.splits import PROTOCOLS, split_interactions
from training.tuning import Budget, budget_for, tune_on_validation, validation_splitter

__all__ = [
    "evaluate_models",
    "fit_and_evaluate",
    "format_table",
    "load_source",
    "main",
    "split_interactions",
]


def evaluate_models(
    models: Mapping[str, KnnRecommender],
    test: pd.DataFrame,
    k_values: Sequence[int] = (5, 10),
    *,
    baselines: bool = True,
    max_users: int | None = None,
    seed: int = 0,
    progress: bool = False,
    keep_seen_relevant: bool = False,
) -> dict[str, Any]:
    """Evaluate models fitted on the same train side of a split on its test side.

    Returns {name: metrics, ..., "popularity": ..., "random": ..., "users": n, "items": n}.
    """
    first = next(iter(models.values()))
    eval_set = build_evaluation_set(
        first.matrix_,
        first.user_index_,
        first.post_index_,
        test,
        max_users=max_users,
        seed=seed,
        keep_seen_relevant=keep_seen_relevant,
    )
    rankers: dict[str, Ranker] = {name: knn_ranker(model) for name, model in models.items()}
    if baselines:
        rankers["popularity"] = popularity_ranker(first.matrix_)
        rankers["random"] = random_ranker(first.n_posts, seed)
    result: dict[str, Any] = evaluate_rankers(rankers, eval_set, k_values, progress)
    result["users"] = len(eval_set.rows)
    result["items"] = eval_set.n_items
    return result


def format_table(result: Mapping[str, Any], k_values: Sequence[int] = (5, 10)) -> str:
    """A plain-text table: one row per ranker, one column per metric."""
    names = [n for n, v in result.items() if isinstance(v, dict) and f"ndcg@{k_values[0]}" in v]
    cols = [f"{m}@{k}" for k in k_values for m in ("precision", "recall", "ndcg", "map", "coverage")]
    cols += ["map"] if names and all("map" in result[n] for n in names) else []
    lines = ["ranker".ljust(12) + "".join(c.rjust(13) for c in cols)]
    lines += [n.ljust(12) + "".join(f"{result[n][c]:13.4f}" for c in cols) for n in names]
    lines.append(f"users evaluated: {result.get('users')}, catalogue: {result.get('items')} posts")
    return "\n".join(lines)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path, help="a generated dataset (.json/.jsonl)")
    source.add_argument("--dataset", type=Path, help="an external interaction file, see --format")
    source.add_argument(
        "--database-url",
        nargs="?",
        const="",
        help="the database to read (the default source: DATABASE_URL or the embedded SQLite file)",
    )
    parser.add_argument("--format", choices=FORMATS, default="csv", help="csv: headed, see --columns")
    parser.add_argument(
        "--columns",
        help="rename headers (userID=user_id,artistID=post_id) or name the columns of a headerless "
        "file in order (user_id,post_id,weight); fields: user_id, post_id, created_at, weight, "
        "interaction_type",
    )
    parser.add_argument("--sep", help=r"column separator, e.g. '\t' (default: tab or comma, sniffed)")
    parser.add_argument("--skip-rows", type=int, default=0, help="lines to skip before the header/data")
    parser.add_argument("--protocol", "--split", choices=PROTOCOLS, default="temporal")
    parser.add_argument("--test-fraction", type=float, default=None, help="0.2 temporal, 0.25 otherwise")
    parser.add_argument("--min-interactions", type=int, default=5, help="temporal and random only")
    parser.add_argument("--seed", type=int, default=None, help="42 under msr, else 0")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument(
        "--engine",
        action="append",
        choices=ENGINES,
        help="fit and report this collaborative engine (repeatable); default: one model, as configured",
    )
    parser.add_argument("--max-users", type=int, default=None, help="evaluate a random sample of test users")
    parser.add_argument(
        "--tune", action="store_true", help="tune each engine on a validation cut of train first"
    )
    parser.add_argument(
        "--model",
        choices=("default", "active"),
        default="default",
        help="active: the configuration of the model active for this data source in the registry",
    )
    parser.add_argument("--models-dir", type=Path, help="the registry's folder (default: models/)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def active_config(args: argparse.Namespace) -> KnnConfig:
    """The active model's configuration for the data source the arguments name; ValueError
    when that source has no active model."""
    from app.infrastructure.config import Settings
    from training.sources import active_config_for, database_source, file_source, knn_config_from

    path = args.dataset or args.input
    if path is not None:
        identity = file_source(path)
    else:
        identity = database_source(args.database_url or Settings().database_url)
    raw = active_config_for(args.models_dir or Settings().model.models_dir, identity)
    if raw is None:
        raise ValueError(f"no model is active for {identity.display}: train one with training.train")
    return knn_config_from(raw)


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
    engines: Sequence[str] = (),
    keep_seen_relevant: bool = False,
    protocol: str = "temporal",
) -> dict[str, Any]:
    """Fit on train (each engine tuned on a validation cut of train first when asked) and
    evaluate on test: one model under "model", or with `engines` one model per engine under
    its name ("config" becomes "configs" when there are several; "tuning" is then per engine).

    Without post text (external data) the content weight is forced to 0, and without
    timestamps the recency weight too. Tuning cuts its validation part from train the way
    `protocol` cut the test part (see training.tuning.validation_splitter).
    """
    cfg = config or KnnConfig()
    if posts is None:
        cfg = cfg.with_changes(blend_content=0.0)
    if not is_dated(train):
        cfg = cfg.with_changes(blend_recency=0.0)
    configs = {name: cfg.with_changes(engine=name) for name in engines} or {"model": cfg}
    trials: dict[str, list[dict[str, Any]]] = {}
    if tune:
        splitter = validation_splitter(protocol, is_dated(train), seed)
        total = budget_for(len(train))  # shared by the engines
        budget = Budget(seconds=total.seconds / len(configs), trials=total.trials)
        for name, engine_cfg in configs.items():
            configs[name], trials[name] = tune_on_validation(
                train, posts, users, engine_cfg, budget=budget, splitter=splitter, seed=seed,
                progress=progress,
            )  # fmt: skip
    models = {name: _fit(name, c, train, posts, users, progress) for name, c in configs.items()}
    result = evaluate_models(
        models,
        test,
        k_values,
        max_users=max_users,
        seed=seed,
        progress=progress,
        keep_seen_relevant=keep_seen_relevant,
    )
    if len(configs) == 1:
        result["config"] = next(iter(configs.values())).as_dict()
    else:
        result["configs"] = {name: c.as_dict() for name, c in configs.items()}
    if trials:
        result["tuning"] = trials.get("model", trials)
    return result


def _fit(
    name: str,
    config: KnnConfig,
    train: pd.DataFrame,
    posts: pd.DataFrame | None,
    users: pd.DataFrame | None,
    progress: bool,
) -> KnnRecommender:
    desc = "neighbours" if name == "model" else f"fit {name}"
    bar = tqdm(total=train["user_id"].nunique(), desc=desc, file=sys.stderr, disable=not progress)
    model = KnnRecommender(config).fit(train, posts, users, progress=lambda n: _advance(bar, n))
    bar.close()
    return model


def _advance(bar: tqdm[Any], n: int) -> None:
    bar.update(n)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    seed = args.seed if args.seed is not None else (42 if args.protocol == "msr" else 0)
    try:
        layout = parse_layout(args.columns, args.sep, args.skip_rows)
        interactions, posts, users = load_source(
            args.input, args.dataset, args.format, args.database_url, layout=layout
        )
        train, test = split_interactions(
            interactions, args.protocol, args.test_fraction, seed, args.min_interactions
        )
        if train.empty or test.empty:
            raise ValueError(f"the {args.protocol} split left an empty side: more interactions are needed")
        config = active_config(args) if args.model == "active" else None
    except (OSError, ValueError) as error:
        print(f"evaluation failed: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    result = fit_and_evaluate(
        train,
        test,
        posts,
        users,
        config,
        k_values=args.k,
        tune=args.tune,
        max_users=args.max_users,
        seed=seed,
        progress=True,
        engines=tuple(dict.fromkeys(args.engine or ())),
        keep_seen_relevant=args.protocol == "msr",
        protocol=args.protocol,
    )
    result["split"] = {"kind": args.protocol, "train": len(train), "test": len(test), "seed": seed}
    print(json.dumps(result, indent=2, default=str) if args.json else format_table(result, args.k))
    return 0


if __name__ == "__main__":
    sys.exit(run_job("evaluate", main))
