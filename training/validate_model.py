"""The CI gate for the active model: integrity, sanity of its answers, metric thresholds.

    uv run python -m training.validate_model            # users sampled from the database
    uv run python -m training.validate_model --input data/fake_interactions.json

Exits 0 when the model passes; otherwise 1 and every reason.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from app.domain.entities import Interaction, InteractionType
from app.domain.ports import RecommendationQuery, Recommender
from app.infrastructure.config import Settings
from app.infrastructure.jobs import run_job
from app.infrastructure.ml.model_loader import RegistryModelStore
from app.infrastructure.ml.registry import ModelRegistry
from app.shared.exceptions import ModelUnavailable
from training.sources import TrainingData, load_database, load_file


@dataclass(frozen=True)
class UserCase:
    user_id: uuid.UUID
    history: list[Interaction]
    own: frozenset[uuid.UUID]


def sample_users(data: TrainingData, n: int) -> list[UserCase]:
    """The `n` most active users, with their history and their own posts."""
    counts = data.interactions["user_id"].value_counts()
    chosen = counts.index[:n].tolist()
    by_user = data.interactions[data.interactions["user_id"].isin(chosen)].groupby("user_id")
    own = data.posts[data.posts["author_id"].isin(chosen)].groupby("author_id")["id"].agg(list).to_dict()
    return [UserCase(uuid.UUID(u), _history(u, by_user.get_group(u)), _ids(own.get(u, []))) for u in chosen]


def _ids(values: list[str]) -> frozenset[uuid.UUID]:
    return frozenset(uuid.UUID(v) for v in values)


def _history(user_id: str, rows: pd.DataFrame) -> list[Interaction]:
    return [
        Interaction(uuid.uuid4(), uuid.UUID(user_id), uuid.UUID(p), InteractionType(k), t.to_pydatetime())
        for p, k, t in zip(rows["post_id"], rows["interaction_type"], rows["created_at"], strict=True)
    ]


def sanity_problems(
    model: Recommender, cases: Sequence[UserCase], now: datetime, limit: int = 20
) -> list[str]:
    """Scores in [0, 1] and sorted, at most `limit`, no excluded (seen or own) post; cold start answers."""
    problems: list[str] = []
    for case in [*cases, UserCase(uuid.uuid4(), [], frozenset())]:
        exclude = case.own | {i.post_id for i in case.history}
        recs = model.recommend(
            RecommendationQuery(case.user_id, case.history, frozenset(exclude), limit, now)
        )
        scores = [r.score for r in recs]
        if len(recs) > limit:
            problems.append(f"user {case.user_id}: {len(recs)} results for limit {limit}")
        if any(not 0.0 <= s <= 1.0 for s in scores) or scores != sorted(scores, reverse=True):
            problems.append(f"user {case.user_id}: scores out of [0, 1] or not sorted descending")
        if leaked := {r.post_id for r in recs} & exclude:
            problems.append(f"user {case.user_id}: {len(leaked)} seen or own posts recommended")
        if not recs:
            problems.append(f"user {case.user_id}: no recommendations at all")
    return problems


def threshold_problems(metrics: dict[str, float], settings: Settings) -> list[str]:
    limits = settings.validation
    ndcg, popular = metrics.get("ndcg@10"), metrics.get("popularity.ndcg@10")
    if ndcg is None:
        return ["the registry entry records no ndcg@10"]
    problems = []
    if ndcg < limits.min_ndcg_at_10:
        problems.append(f"ndcg@10 {ndcg:.4f} < required {limits.min_ndcg_at_10:.4f}")
    if popular is not None and ndcg < popular * limits.min_lift_over_popularity:
        problems.append(f"ndcg@10 {ndcg:.4f} < {limits.min_lift_over_popularity}x popularity's {popular:.4f}")
    return problems


def validate(args: argparse.Namespace, settings: Settings) -> list[str]:
    registry = ModelRegistry(args.models_dir or settings.model.models_dir)
    data = load_file(args.input) if args.input else load_database(args.database_url or settings.database_url)
    entry = registry.active_for(data.identity)
    if entry is None:
        return [f"no active model for {data.identity.display} in {registry.path}: run training.train first"]
    try:
        model = RegistryModelStore(registry).load(entry.version)
    except ModelUnavailable as error:
        return [f"model {entry.version} failed to load: {error}"]
    cases = sample_users(data, args.users)
    print(f"validating {entry.version} on {len(cases)} users", file=sys.stderr)
    return sanity_problems(model, cases, datetime.now(UTC)) + threshold_problems(entry.metrics, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", type=Path, help="sample users from a dataset file instead of the database")
    parser.add_argument("--database-url")
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        problems = validate(args, Settings())
    except (FileNotFoundError, ValueError) as error:
        problems = [str(error)]
    if problems:
        print("model validation FAILED:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    print("model validation passed")
    return 0


if __name__ == "__main__":
    sys.exit(run_job("validate", main))
