"""Training and serving cost of the KNN recommender, against implicit's item-KNN and ALS.

    uv run python -m benchmarks.training --sizes 100000 1000000 5000000

Per size: generate data (data.generate_fake_data), split per user in time, then time
preprocess, fit, evaluate, and recommend(query) for 1,000 users as serving calls it (known
users on their precomputed neighbours, and folded in from a history newer than the model),
with peak RSS. Each size runs in its own process so peak memory is per size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import numpy as np
import pandas as pd

THREADS = "1"  # two shared cores: one thread per library keeps the comparison fair


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fit_memory_mb(fn: Callable[[], Any]) -> tuple[Any, float]:
    """fn's result and the most resident memory it added above what the process held before."""
    start, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = fn()
    finally:
        done.set()
        sampler.join()
    return out, max(peak[0], _rss_mb()) - start


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _generate(n: int, workdir: Path) -> Path:
    users = min(100_000, max(2_000, n // 20))
    path = workdir / f"bench_{n}.jsonl"
    if not path.exists():
        cmd = [
            sys.executable,
            "-m",
            "data.generate_fake_data",
            "--users",
            str(users),
            "--posts",
            str(users // 2),
        ]
        subprocess.run(
            [*cmd, "--interactions", str(n), "--output", str(path)], check=True, stdout=subprocess.DEVNULL
        )
    return path


def _queries(
    interactions: pd.DataFrame, users: Sequence[str], now: datetime, limit: int, *, as_stranger: bool = False
) -> list[Any]:
    """Queries as serving builds them; `as_stranger` gives each a new user id, forcing fold-in."""
    from app.domain.entities import Interaction, InteractionType
    from app.domain.ports import RecommendationQuery

    out = []
    by_user = interactions[interactions["user_id"].isin(set(users))].groupby("user_id")
    for user, rows in by_user:
        history = [
            Interaction(UUID(i), UUID(str(user)), UUID(p), InteractionType(k), t.to_pydatetime())
            for i, p, k, t in zip(
                rows["id"], rows["post_id"], rows["interaction_type"], rows["created_at"], strict=True
            )
        ]
        exclude = frozenset(h.post_id for h in history)
        user_id = uuid5(NAMESPACE_URL, str(user)) if as_stranger else UUID(str(user))
        out.append(RecommendationQuery(user_id, history, exclude, limit, now))
    return out


def _latency_ms(model: Any, queries: Sequence[Any]) -> dict[str, float]:
    times = []
    for query in queries:
        start = time.perf_counter()
        model.recommend(query)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": float(np.median(times)), "p99": float(np.percentile(times, 99))}


def _implicit_rows(model: Any, user_items: Any) -> Callable[[int, Any, int], Any]:
    def rank(row: int, _exclude: Any, n: int) -> Any:
        ids, _ = model.recommend(row, user_items[row], N=n, filter_already_liked_items=True)
        return np.asarray(ids, dtype=np.int32)

    return rank


def _implicit_models(matrix: Any, eval_set: Any) -> dict[str, dict[str, float]]:
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender, bm25_weight

    from training.holdout import evaluate_rankers

    user_items = matrix.tocsr().astype(np.float32)
    out = {}
    makers: dict[str, Callable[[], tuple[Any, Any]]] = {
        "implicit item-KNN": lambda: (CosineRecommender(K=50, num_threads=1), user_items),
        "implicit ALS": lambda: (
            AlternatingLeastSquares(
                factors=64, iterations=15, regularization=0.05, num_threads=1, random_state=0
            ),
            bm25_weight(user_items, K1=100, B=0.8).tocsr().astype(np.float32),
        ),
    }
    for name, make in makers.items():
        model, train = make()
        start = time.perf_counter()
        model.fit(train, show_progress=False)
        fit_s = time.perf_counter() - start
        scores = evaluate_rankers({name: _implicit_rows(model, user_items)}, eval_set, (10,))[name]
        out[name] = {"fit_s": fit_s, "ndcg@10": scores["ndcg@10"]}
    return out


def run_size(path: Path, eval_users: int, latency_users: int, engine: str = "user_knn") -> dict[str, Any]:
    from app.infrastructure.ml.config import KnnConfig
    from app.infrastructure.ml.recommender import KnnRecommender
    from data.io import load_frames
    from training.evaluate import evaluate_models
    from training.holdout import build_evaluation_set
    from training.preprocess import preprocess
    from training.splits import temporal_split

    frames = load_frames(path)
    train, test = temporal_split(frames.interactions)
    pre, prep_s = _timed(lambda: preprocess(train, frames.posts, frames.users))
    model = KnnRecommender(KnnConfig(engine=engine))
    (_, fit_s), fit_mb = _fit_memory_mb(
        lambda: _timed(lambda: model.fit_prepared(pre.data, pre.features, pre.texts))
    )
    result, eval_s = _timed(lambda: evaluate_models({"model": model}, test, (5, 10), max_users=eval_users))
    rng = np.random.default_rng(0)
    users = rng.choice(
        test["user_id"].unique(), size=min(latency_users, test["user_id"].nunique()), replace=False
    )
    now = frames.interactions["created_at"].max().to_pydatetime()
    known = _latency_ms(model, _queries(train, users.tolist(), now, 50))
    fold_in = _latency_ms(model, _queries(frames.interactions, users.tolist(), now, 50, as_stranger=True))
    eval_set = build_evaluation_set(model.matrix_, model.user_index_, model.post_index_, test, eval_users, 0)
    return {
        "engine": engine,
        "interactions": len(frames.interactions),
        "users": model.n_users,
        "posts": model.n_posts,
        "preprocess_s": prep_s,
        "fit_s": fit_s,
        "fit_mb": fit_mb,
        "evaluate_s": eval_s,
        "known": known,
        "fold_in": fold_in,
        "peak_mb": _peak_mb(),
        "ndcg@10": {name: result[name]["ndcg@10"] for name in ("model", "popularity", "random")},
        "eval_users": result["users"],
        "implicit": _implicit_models(model.matrix_, eval_set),
    }


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'engine':>8} {'interactions':>12} {'users':>7} {'posts':>6} {'prep s':>7} {'fit s':>7} "
        f"{'fit MB':>7} "
        f"{'eval s':>7} "
        f"{'rec p50/p99 ms':>15} {'fold-in p50/p99':>16} {'peak MB':>8} {'ndcg@10':>8} {'pop':>7} "
        f"{'x pop':>6} {'iKNN ndcg/fit':>14} {'ALS ndcg/fit':>14} {'x best':>6}"
    )
    lines = [head]
    for r in rows:
        nd, imp = r["ndcg@10"], r["implicit"]
        best = max(v["ndcg@10"] for v in imp.values())
        knn, als = imp["implicit item-KNN"], imp["implicit ALS"]
        lines.append(
            f"{r['engine']:>8} {r['interactions']:>12,} {r['users']:>7} {r['posts']:>6} "
            f"{r['preprocess_s']:>7.2f} "
            f"{r['fit_s']:>7.1f} {r['fit_mb']:>7.0f} {r['evaluate_s']:>7.1f} "
            f"{r['known']['p50']:>7.2f}/{r['known']['p99']:<7.2f} "
            f"{r['fold_in']['p50']:>7.2f}/{r['fold_in']['p99']:<8.2f} {r['peak_mb']:>8.0f} "
            f"{nd['model']:>8.4f} "
            f"{nd['popularity']:>7.4f} {nd['model'] / max(nd['popularity'], 1e-9):>6.2f} "
            f"{knn['ndcg@10']:>7.4f}/{knn['fit_s']:<6.1f} {als['ndcg@10']:>7.4f}/{als['fit_s']:<6.1f} "
            f"{nd['model'] / max(best, 1e-9):>6.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ml_service_bench")
    parser.add_argument("--eval-users", type=int, default=5000, help="test users sampled for metrics")
    parser.add_argument("--latency-users", type=int, default=1000)
    parser.add_argument("--engine", default="user_knn", help="the collaborative engine: user_knn or ease")
    parser.add_argument("--threads", default=THREADS, help="BLAS/OpenMP threads for every library")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # child process: one dataset
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_size(args.one, args.eval_users, args.latency_users, args.engine)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": args.threads,
        "OMP_NUM_THREADS": args.threads,
        "MKL_NUM_THREADS": args.threads,
    }
    rows = []
    for n in args.sizes:
        path = _generate(n, args.workdir)
        cmd = [sys.executable, "-m", "benchmarks.training", "--one", str(path)]
        cmd += ["--eval-users", str(args.eval_users), "--latency-users", str(args.latency_users)]
        cmd += ["--engine", args.engine]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"done {n:,} interactions", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
