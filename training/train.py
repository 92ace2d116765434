"""Train, evaluate against baselines, export, log to MLflow, promote through the gate, precompute.

uv run python -m training.train                      # from the database (DATABASE_URL)
uv run python -m training.train --input data/fake_interactions.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from app.infrastructure.config import Settings
from app.infrastructure.jobs import run_job
from app.infrastructure.ml.config import ENGINES, KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender
from app.infrastructure.ml.registry import ModelRegistry, ModelStatus, RegistryEntry
from app.shared.exceptions import MlServiceError
from training import gate
from training.evaluate import fit_and_evaluate, format_table, split_interactions
from training.export_model import export_model
from training.gate import GATE_METRIC
from training.sources import TrainingData, knn_config_from, load_database, load_file

# (train, test) of one held-out split.
Split = tuple[pd.DataFrame, pd.DataFrame]


@dataclass(frozen=True)
class TrainingOutcome:
    entry: RegistryEntry
    decision: gate.GateDecision
    evaluation: dict[str, Any]
    precomputed_users: int = 0
    mlflow_run_id: str | None = None


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, help="a generated dataset file instead of the database")
    parser.add_argument("--database-url", help="default: DATABASE_URL or the embedded SQLite file")
    parser.add_argument("--models-dir", type=Path, help="default: models/")
    parser.add_argument(
        "--no-tune",
        dest="tune",
        action="store_false",
        help="skip tuning each engine's settings and the blend on a validation cut of train",
    )
    parser.add_argument(
        "--engine",
        action="append",
        choices=ENGINES,
        help="collaborative engine to fit (repeatable); the best on the held-out split is the candidate."
        " Default: ML_MODEL__ENGINES (user_knn and ease)",
    )
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative NDCG@10 drop the gate allows")
    parser.add_argument("--max-eval-users", type=int, default=5000, help="evaluate a sample of test users")
    parser.add_argument("--no-promote", action="store_true", help="register the model as a candidate only")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow tracking")
    parser.add_argument(
        "--precompute-users", type=int, default=2000, help="most recently active users to precompute; 0 skips"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def base_config(settings: Settings) -> KnnConfig:
    return KnnConfig(
        interaction_weights=settings.weights.as_dict(),
        n_neighbors=settings.model.n_neighbors,
        blend_cf=settings.blend.cf,
        blend_content=settings.blend.content,
        blend_recency=settings.blend.recency,
        recency_half_life_hours=settings.model.recency_half_life_hours,
    )


def evaluate_config(
    data: TrainingData, split: Split, config: KnnConfig, args: argparse.Namespace, *, tune: bool
) -> dict[str, Any]:
    """Held-out evaluation of `config` fitted on the split's train side, with both baselines."""
    train, test = split
    return fit_and_evaluate(
        train,
        test,
        data.posts,
        data.users,
        config,
        tune=tune,
        max_users=args.max_eval_users,
        seed=args.seed,
        progress=True,
    )


def evaluate_engines(
    data: TrainingData, split: Split, config: KnnConfig, engines: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Each engine (tuned when asked) on the same split; the one with the best NDCG@10 is the
    candidate, reported under "model" and "config" as for one engine, the rest under "engines"."""
    if len(engines) == 1:
        return evaluate_config(data, split, config.with_changes(engine=engines[0]), args, tune=args.tune)
    train, test = split
    result = fit_and_evaluate(
        train,
        test,
        data.posts,
        data.users,
        config,
        tune=args.tune,
        max_users=args.max_eval_users,
        seed=args.seed,
        progress=True,
        engines=engines,
    )
    best = max(engines, key=lambda name: result[name][GATE_METRIC])
    return {
        "model": result[best],
        "config": result["configs"][best],
        "engines": {name: result[name] for name in engines},
        **{key: result[key] for key in ("popularity", "random", "users", "items") if key in result},
    }


def judge(
    data: TrainingData,
    split: Split,
    evaluation: dict[str, Any],
    active: RegistryEntry | None,
    args: argparse.Namespace,
) -> gate.GateDecision:
    """The gate on one split: the candidate against the active model's configuration fitted on
    the same train side and evaluated on the same test side (popularity for a first model)."""
    popularity = evaluation.get("popularity")
    if active is None:
        return gate.decide(evaluation["model"], None, popularity=popularity, tolerance=args.tolerance)
    try:
        config = knn_config_from(active.config)
    except ValueError as error:
        return gate.GateDecision(
            False,
            f"the active model {active.version}'s config cannot be rebuilt ({error}); compare them by "
            "hand and promote with `python -m training.export_model --promote` if intended",
        )
    if config == KnnConfig(**evaluation["config"]):
        reference = evaluation  # the same configuration on the same split: the same figures
    else:
        step(f"fitting the active model {active.version}'s configuration on the same split")
        reference = evaluate_config(data, split, config, args, tune=False)
    label = f"the active model {active.version}'s configuration on the same split"
    return gate.decide(
        evaluation["model"],
        reference["model"],
        popularity=popularity,
        tolerance=args.tolerance,
        active_label=label,
    )


def fit_final(data: TrainingData, config: KnnConfig) -> KnnRecommender:
    """The served model learns from every interaction; the held-out numbers describe its recipe."""
    bar = tqdm(total=data.interactions["user_id"].nunique(), desc="neighbours", file=sys.stderr)

    def advance(n: int) -> None:
        bar.update(n)

    model = KnnRecommender(config).fit(data.interactions, data.posts, data.users, progress=advance)
    bar.close()
    return model


def flat_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """{"ndcg@10": model's, "popularity.ndcg@10": baseline's, ...} as stored in the registry."""
    flat = {k: float(v) for k, v in evaluation["model"].items()}
    for baseline in ("popularity", "random"):
        flat.update({f"{baseline}.{k}": float(v) for k, v in evaluation.get(baseline, {}).items()})
    return flat


def run(args: argparse.Namespace, settings: Settings) -> TrainingOutcome:
    step("loading data")
    data = load_file(args.input) if args.input else load_database(args.database_url or settings.database_url)
    registry = ModelRegistry(args.models_dir or settings.model.models_dir)
    step(f"evaluating on a held-out temporal split: {data.stats()['interactions']} interactions")
    split = split_interactions(data.interactions, "temporal", None, args.seed, 5)
    engines = tuple(dict.fromkeys(args.engine or settings.model.engines))
    evaluation = evaluate_engines(data, split, base_config(settings), engines, args)
    print(format_table({**evaluation.get("engines", {}), **evaluation}), file=sys.stderr)
    decision = judge(data, split, evaluation, registry.active_for(data.identity), args)
    config = KnnConfig(**evaluation["config"])
    step("fitting the final model on all interactions")
    model = fit_final(data, config)
    metrics = flat_metrics(evaluation)
    entry = export_model(
        model,
        models_dir=registry.models_dir,
        config=config.as_dict(),
        metrics=metrics,
        data_stats=data.stats(),
        data_source=data.identity,
    )
    run_id = None if args.no_mlflow else _track(entry, config, metrics, registry, decision)
    return _conclude(args, settings, registry, entry, decision, evaluation, run_id, data)


def _track(
    entry: RegistryEntry,
    config: KnnConfig,
    metrics: dict[str, float],
    registry: ModelRegistry,
    decision: gate.GateDecision,
) -> str:
    from training.tracking import log_run

    step("logging the run to MLflow")
    return log_run(
        version=entry.version,
        params=config.as_dict(),
        metrics=metrics,
        artifact=registry.artifact_path(entry),
        tags={
            "gate": "pass" if decision.promote else "fail",
            "gate_reason": decision.reason,
            "data_source": str(entry.data_source),
        },
    )


def _conclude(
    args: argparse.Namespace,
    settings: Settings,
    registry: ModelRegistry,
    entry: RegistryEntry,
    decision: gate.GateDecision,
    evaluation: dict[str, Any],
    run_id: str | None,
    data: TrainingData,
) -> TrainingOutcome:
    if args.no_promote:
        return TrainingOutcome(
            entry, gate.GateDecision(False, "--no-promote: kept as a candidate"), evaluation
        )
    if not decision.promote:
        registry.mark(entry.version, ModelStatus.REJECTED, note=decision.reason)
        return TrainingOutcome(entry, decision, evaluation, mlflow_run_id=run_id)
    registry.promote(entry.version, note=decision.reason)
    precomputed = 0
    if args.precompute_users > 0 and not args.input:
        from training.precompute import precompute_active_users

        step(f"precomputing recommendations for up to {args.precompute_users} recently active users")
        url = args.database_url or settings.database_url
        precomputed = precompute_active_users(url, registry, settings, limit=args.precompute_users)
    return TrainingOutcome(entry, decision, evaluation, precomputed, run_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        outcome = run(args, Settings())
    except (FileNotFoundError, ValueError, MlServiceError) as error:
        print(f"training failed: {error}", file=sys.stderr)
        return 1
    promoted = outcome.decision.promote and not args.no_promote
    print(f"model {outcome.entry.version}: {'PROMOTED to active' if promoted else 'not promoted'}")
    print(f"  why: {outcome.decision.reason}")
    ndcg = {name: outcome.evaluation[name]["ndcg@10"] for name in ("model", "popularity", "random")}
    print(f"  NDCG@10 {ndcg['model']:.4f} (popularity {ndcg['popularity']:.4f}, random {ndcg['random']:.4f})")
    print(f"  trained on {outcome.entry.data_source}")
    if outcome.precomputed_users:
        print(f"  precomputed recommendations for {outcome.precomputed_users} users")
    if outcome.mlflow_run_id:
        print(f"  MLflow run {outcome.mlflow_run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(run_job("train", main))
