"""Recommendation quality: ml-service's engines against popularity, a plain scikit-learn cosine
user-KNN and implicit's item-KNN and ALS (both tuned), each fitted on the same train part and
evaluated on the same test users.

    uv run python -m benchmarks.quality --data-dir DIR [--generated 100000 2000000] [--json out.json]

Data sets: generated data (data.generate_fake_data, reused as WORK_DIR/gen_100k.jsonl and the
like when present; temporal protocol, each user's last 20%) and two public logs looked up in
DIR, never shipped with the repository: MovieLens ml-latest-small (ratings.csv) and Last.fm
HetRec 2011 (user_artists.dat), both under the msr protocol (binary feedback, a 75/25 split
stratified per item, seed 42). Tuned rows search with Optuna on a validation cut of the train
part only, within a time budget, then refit the best setting on the whole train part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.matrix import build_interaction_matrix, is_dated
from app.infrastructure.ml.recommender import KnnRecommender, canonical_id
from data.io import load_frames
from training.datasets import CsvLayout, load_interaction_file, parse_layout
from training.holdout import (
    EvaluationSet,
    Ranker,
    build_evaluation_set,
    evaluate_rankers,
    knn_ranker,
    popularity_ranker,
)
from training.splits import binary_interactions, msr_split, temporal_split
from training.tuning import Budget, budget_for, tune_on_validation, validation_splitter

K = 10
COLUMNS = {
    "P@10": "precision@10",
    "R@10": "recall@10",
    "NDCG@10": "ndcg@10",
    "MAP": "map",
    "coverage@10": "coverage@10",
}
POPULAR = "most-popular"
PLAIN = "plain cosine user-KNN (scikit-learn, k=50)"
ITEM_KNN = "implicit item-KNN (tuned)"
ALS = "implicit ALS (tuned)"
USER_KNN = "ml-service user-KNN (default)"
ML_ROWS = (USER_KNN, "ml-service user-KNN (tuned)", "ml-service EASE (default)", "ml-service EASE (tuned)")
ROWS = (POPULAR, PLAIN, ITEM_KNN, ALS, *ML_ROWS)
MOVIELENS_FILES = ("ratings.csv", "ml-latest-small-ratings.csv")
LASTFM_FILES = ("user_artists.dat", "lastfm-user_artists.dat")
GENERATED_NOW = "2026-11-01T00:00:00+00:00"  # a fixed reference time, so generated files repeat
VALIDATION_USERS = 3000  # as training.tuning samples its validation users
NEIGHBOUR_BLOCK = 2000  # rows per kneighbors call: bounds the dense users × users block
IMPLICIT_DEFAULTS: dict[str, dict[str, Any]] = {  # the first trial: benchmarks.training's settings
    ITEM_KNN: {"weighting": "cosine", "K": 50},
    ALS: {"factors": 64, "regularization": 0.05, "alpha": 1.0, "iterations": 15, "input": "bm25"}
    | {"K1": 100.0, "B": 0.8},
}


@dataclass(frozen=True, slots=True)
class DataSet:
    """One benchmark data set, split; `max_users` samples the test users evaluated."""

    name: str
    protocol: str  # "temporal" or "msr"
    train: pd.DataFrame
    test: pd.DataFrame
    posts: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    max_users: int | None = None

    @property
    def seed(self) -> int:
        return 42 if self.protocol == "msr" else 0


@dataclass(frozen=True, slots=True)
class Options:
    threads: int = 1
    tuning_seconds: float | None = None
    tuning_trials: int = 60
    latency_users: int = 500

    def budget(self, n_interactions: int) -> Budget:
        seconds = self.tuning_seconds or budget_for(n_interactions).seconds
        return Budget(seconds=seconds, trials=self.tuning_trials)


@dataclass(frozen=True, slots=True)
class Fitted:
    ranker: Ranker
    fit_s: float
    tuning_s: float | None = None
    params: dict[str, Any] | None = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data sets ---------------------------------------------------------------------------


def size_label(n: int) -> str:
    """100000 → "100k", 2000000 → "2m"."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def generated_file(n: int, work_dir: Path) -> Path:
    """WORK_DIR/gen_<size>.jsonl, generated as benchmarks.training does unless already there
    with `n` interactions; raises ValueError when a file of that name holds another size."""
    path = work_dir / f"gen_{size_label(n)}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            counts = json.loads(handle.readline()).get("counts", {})
        if counts.get("interactions") != n:
            raise ValueError(f"{path.name} holds {counts.get('interactions')} interactions, not {n}")
        log(f"reusing {path.name} ({counts.get('users')} users, {counts.get('posts')} posts)")
        return path
    users = min(100_000, max(2_000, n // 20))
    log(f"generating {n:,} interactions for {users:,} users into {path.name}")
    cmd = [sys.executable, "-m", "data.generate_fake_data", "--users", str(users), "--posts", str(users // 2)]
    cmd += ["--interactions", str(n), "--now", GENERATED_NOW, "--output", str(path)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return path


def load_generated(n: int, work_dir: Path, max_users: int | None) -> DataSet:
    frames = load_frames(generated_file(n, work_dir))
    train, test = temporal_split(frames.interactions)
    return DataSet(
        f"generated {size_label(n)}", "temporal", train, test, frames.posts, frames.users, max_users
    )


def find_file(data_dir: Path, names: Sequence[str]) -> Path | None:
    return next((data_dir / name for name in names if (data_dir / name).is_file()), None)


def lastfm_layout(path: Path) -> CsvLayout:
    """HetRec's headed `userID artistID weight`, or the copies that open with two count lines
    (each a lone integer) instead of the header."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        head = [handle.readline().strip() for _ in range(3)]
    counts = next((i for i, line in enumerate(head) if not line.isdigit()), len(head))
    if counts:
        return parse_layout("user_id,post_id,weight", "\t", counts)
    return parse_layout("userID=user_id,artistID=post_id", "\t")


def load_msr(name: str, path: Path, layout: CsvLayout) -> DataSet:
    frame = binary_interactions(load_interaction_file(path, "csv", layout))
    train, test = msr_split(frame, 0.75, seed=42)
    return DataSet(name, "msr", train, test)


def datasets(sizes: Sequence[int], data_dir: Path, work_dir: Path, max_users: int) -> Iterator[DataSet]:
    """Loaded one at a time, so only one data set is in memory."""
    for n in sizes:
        yield load_generated(n, work_dir, max_users)
    movielens = find_file(data_dir, MOVIELENS_FILES)
    lastfm = find_file(data_dir, LASTFM_FILES)
    if movielens is not None:
        yield load_msr("MovieLens ml-latest-small", movielens, parse_layout(None))
    else:
        log(f"skipping MovieLens: none of {', '.join(MOVIELENS_FILES)} in --data-dir")
    if lastfm is not None:
        yield load_msr("Last.fm HetRec 2011", lastfm, lastfm_layout(lastfm))
    else:
        log(f"skipping Last.fm: none of {', '.join(LASTFM_FILES)} in --data-dir")


# --- recommenders ------------------------------------------------------------------------


def train_values(matrix: sp.csr_matrix, protocol: str) -> sp.csr_matrix:
    """The train matrix as float32; binary under msr, summed interaction weights otherwise."""
    out = matrix.astype(np.float32).tocsr()
    if protocol == "msr":
        out.data[:] = 1.0
    return out


def top_columns(scores: np.ndarray, exclude: np.ndarray, n: int) -> np.ndarray:
    scores = scores.astype(np.float64)
    scores[exclude] = -np.inf
    n = min(n, len(scores) - len(exclude))
    best = np.argpartition(-scores, n - 1)[:n] if n > 0 else np.empty(0, dtype=np.int64)
    return best[np.argsort(-scores[best], kind="stable")].astype(np.int32)


def cosine_neighbours(matrix: sp.csr_matrix, k: int, threads: int) -> sp.csr_matrix:
    """users × users: each user's k most cosine-similar other users and their similarity,
    searched with brute-force kneighbors in blocks of rows."""
    from sklearn.neighbors import NearestNeighbors

    n_users = matrix.shape[0]
    k = min(k, n_users - 1)
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute", n_jobs=threads).fit(matrix)
    blocks = []
    for start in range(0, n_users, NEIGHBOUR_BLOCK):
        rows = np.arange(start, min(start + NEIGHBOUR_BLOCK, n_users))
        dist, idx = nn.kneighbors(matrix[rows])
        keep = idx != rows[:, None]
        keep[keep.all(axis=1), -1] = False  # self not returned (ties): drop the farthest instead
        sims = (1.0 - dist[keep]).reshape(len(rows), k)
        blocks.append(
            sp.csr_matrix((sims.ravel(), idx[keep], np.arange(len(rows) + 1) * k), (len(rows), n_users))
        )
    return sp.vstack(blocks).tocsr().astype(np.float32)


def plain_user_knn(values: sp.csr_matrix, threads: int) -> Fitted:
    start = time.perf_counter()
    neighbours = cosine_neighbours(values, 50, threads)
    fit_s = time.perf_counter() - start

    def rank(row: int, exclude: np.ndarray, n: int) -> np.ndarray:
        scores = (neighbours[row] @ values).toarray().ravel()
        return top_columns(scores, exclude, n)

    return Fitted(rank, fit_s)


def implicit_ranker(model: Any, user_items: sp.csr_matrix) -> Ranker:
    def rank(row: int, exclude: np.ndarray, n: int) -> np.ndarray:
        ids, _ = model.recommend(
            row, user_items[row], N=n, filter_already_liked_items=False, filter_items=exclude
        )
        return np.asarray(ids, dtype=np.int32)

    return rank


def suggest_implicit(kind: str, trial: optuna.Trial) -> dict[str, Any]:
    if kind == ITEM_KNN:
        params: dict[str, Any] = {
            "weighting": trial.suggest_categorical("weighting", ["cosine", "bm25", "tfidf"]),
            "K": trial.suggest_int("K", 5, 500, log=True),
        }
        bm25 = params["weighting"] == "bm25"
    else:
        params = {
            "factors": trial.suggest_int("factors", 16, 256, log=True),
            "regularization": trial.suggest_float("regularization", 1e-4, 1.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.1, 100.0, log=True),
            "iterations": trial.suggest_int("iterations", 5, 30),
            "input": trial.suggest_categorical("input", ["raw", "bm25"]),
        }
        bm25 = params["input"] == "bm25"
    if bm25:
        params["K1"] = trial.suggest_float("K1", 0.5, 200.0, log=True)
        params["B"] = trial.suggest_float("B", 0.0, 1.0)
    return params


def fit_implicit(kind: str, params: dict[str, Any], matrix: sp.csr_matrix, threads: int) -> Any:
    """An implicit model of `kind` fitted on `matrix` (users × items) with `params`."""
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender, bm25_weight

    model: Any
    if kind == ITEM_KNN:
        k, weighting = params["K"], params["weighting"]
        if weighting == "bm25":
            model = BM25Recommender(K=k, K1=params["K1"], B=params["B"], num_threads=threads)
        else:
            model = (TFIDFRecommender if weighting == "tfidf" else CosineRecommender)(
                K=k, num_threads=threads
            )
    else:
        model = AlternatingLeastSquares(
            factors=params["factors"], regularization=params["regularization"], alpha=params["alpha"],
            iterations=params["iterations"], num_threads=threads, random_state=0, use_gpu=False,
        )  # fmt: skip
        if params["input"] == "bm25":
            matrix = bm25_weight(matrix, K1=params["K1"], B=params["B"]).tocsr().astype(np.float32)
    with warnings.catch_warnings():
        # implicit's item-KNN weights the transpose itself, then warns that it is not CSR.
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(matrix, show_progress=False)
    return model


def tune_implicit(kind: str, data: DataSet, opts: Options) -> tuple[dict[str, Any], int]:
    """The best params of `kind` by NDCG@10 on a validation cut of train, and the trial count."""
    fit_part, valid_part = validation_splitter(data.protocol, is_dated(data.train), data.seed)(data.train)
    built = build_interaction_matrix(fit_part, weights=KnnConfig().interaction_weights)
    matrix = train_values(built.matrix, data.protocol)
    # Keyed by canonical id, as models index ids and build_evaluation_set looks them up.
    users, posts = (
        {canonical_id(v): i for i, v in enumerate(ids)} for ids in (built.user_ids, built.post_ids)
    )
    index = (matrix, users, posts, valid_part, VALIDATION_USERS, data.seed)
    eval_set = build_evaluation_set(*index, keep_seen_relevant=data.protocol == "msr")

    def objective(trial: optuna.Trial) -> float:
        model = fit_implicit(kind, suggest_implicit(kind, trial), matrix, opts.threads)
        ranker = implicit_ranker(model, matrix)
        return evaluate_rankers({kind: ranker}, eval_set, (K,))[kind]["ndcg@10"]

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        log(
            f"  tuning {kind}: trial {trial.number + 1}, ndcg@10 {trial.value:.4f}"
            f" (best {study.best_value:.4f})"
        )

    budget = opts.budget(len(data.train))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=data.seed))
    study.enqueue_trial(IMPLICIT_DEFAULTS[kind])
    study.optimize(objective, n_trials=budget.trials, timeout=budget.seconds, callbacks=[report])
    return study.best_params, len(study.trials)


def tuned_implicit(kind: str, data: DataSet, values: sp.csr_matrix, opts: Options) -> Fitted:
    start = time.perf_counter()
    params, trials = tune_implicit(kind, data, opts)
    tuning_s = time.perf_counter() - start
    start = time.perf_counter()
    model = fit_implicit(kind, params, values, opts.threads)
    fit_s = time.perf_counter() - start
    return Fitted(implicit_ranker(model, values), fit_s, tuning_s, {**params, "trials": trials})


def base_config(engine: str, data: DataSet, threads: int) -> KnnConfig:
    """The service default for `engine`; without post text no content weight and without
    timestamps no recency weight, as training.evaluate.fit_and_evaluate does."""
    cfg = KnnConfig(engine=engine, n_jobs=threads)
    if data.posts is None:
        cfg = cfg.with_changes(blend_content=0.0)
    if not is_dated(data.train):
        cfg = cfg.with_changes(blend_recency=0.0)
    return cfg


def fit_service(config: KnnConfig, data: DataSet) -> tuple[KnnRecommender, float]:
    start = time.perf_counter()
    model = KnnRecommender(config).fit(data.train, data.posts, data.users)
    return model, time.perf_counter() - start


def tuned_service(engine: str, data: DataSet, opts: Options) -> Fitted:
    splitter = validation_splitter(data.protocol, is_dated(data.train), data.seed)
    base = base_config(engine, data, opts.threads)
    start = time.perf_counter()
    config, trials = tune_on_validation(
        data.train, data.posts, data.users, base,
        budget=opts.budget(len(data.train)), splitter=splitter, seed=data.seed, progress=True,
    )  # fmt: skip
    tuning_s = time.perf_counter() - start
    model, fit_s = fit_service(config, data)
    default = base.as_dict()
    changed = {key: value for key, value in config.as_dict().items() if value != default[key]}
    return Fitted(knn_ranker(model), fit_s, tuning_s, {**changed, "trials": len(trials)})


# --- one data set ------------------------------------------------------------------------


def score(fitted: Fitted, eval_set: EvaluationSet, sample: np.ndarray) -> dict[str, Any]:
    """Metrics over every evaluated user, and the median time of one top-10 ranking call."""
    metrics = evaluate_rankers({"row": fitted.ranker}, eval_set, (K,))["row"]
    times = []
    for i in sample.tolist():
        start = time.perf_counter()
        fitted.ranker(int(eval_set.rows[i]), eval_set.seen[i], K)
        times.append(time.perf_counter() - start)
    p50 = float(np.median(times)) * 1000 if times else None
    out = {**{key: metrics[key] for key in COLUMNS.values()}, "fit_s": fitted.fit_s}
    return out | {"tuning_s": fitted.tuning_s, "recommend_p50_ms": p50, "params": fitted.params}


def run_dataset(data: DataSet, opts: Options) -> dict[str, Any]:
    """Every row of ROWS on one data set, with its shape and the two NDCG@10 ratios."""
    log(f"[{data.name}] {data.protocol}: {len(data.train):,} train / {len(data.test):,} test interactions")
    reference, reference_s = fit_service(base_config("user_knn", data, opts.threads), data)
    values = train_values(reference.matrix_, data.protocol)
    index = (reference.matrix_, reference.user_index_, reference.post_index_, data.test)
    eval_set = build_evaluation_set(
        *index, data.max_users, data.seed, keep_seen_relevant=data.protocol == "msr"
    )
    sample = np.random.default_rng(0).permutation(len(eval_set.rows))[: opts.latency_users]
    builders: dict[str, Callable[[], Fitted]] = {
        POPULAR: lambda: Fitted(popularity_ranker(values), 0.0),
        PLAIN: lambda: plain_user_knn(values, opts.threads),
        ITEM_KNN: lambda: tuned_implicit(ITEM_KNN, data, values, opts),
        ALS: lambda: tuned_implicit(ALS, data, values, opts),
        USER_KNN: lambda: Fitted(knn_ranker(reference), reference_s),
        ML_ROWS[1]: lambda: tuned_service("user_knn", data, opts),
        ML_ROWS[2]: lambda: _default_service("ease", data, opts, values.shape),
        ML_ROWS[3]: lambda: tuned_service("ease", data, opts),
    }
    rows = {}
    for name, build in builders.items():
        log(f"[{data.name}] {name}")
        rows[name] = score(build(), eval_set, sample)
        log(f"[{data.name}] {name}: ndcg@10 {rows[name]['ndcg@10']:.4f}, fit {rows[name]['fit_s']:.1f} s")
    return {
        "name": data.name,
        "protocol": data.protocol,
        "train": len(data.train),
        "test": len(data.test),
        "users": reference.n_users,
        "items": reference.n_posts,
        "evaluated_users": len(eval_set.rows),
        "latency_users": len(sample),
        "rows": rows,
        "ratios": ratios(rows),
    }


def _default_service(engine: str, data: DataSet, opts: Options, shape: tuple[int, int]) -> Fitted:
    model, fit_s = fit_service(base_config(engine, data, opts.threads), data)
    if model.matrix_.shape != shape:  # the evaluation set indexes the reference model's matrix
        raise ValueError(f"{engine} built a {model.matrix_.shape} matrix, the reference {shape}")
    return Fitted(knn_ranker(model), fit_s)


def ratios(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """NDCG@10 of the best ml-service row over tuned implicit ALS, and of the default
    user-KNN over the plain one; None when the denominator is 0."""

    def ratio(top: float, bottom: float) -> float | None:
        return top / bottom if bottom > 0 else None

    best = max(ML_ROWS, key=lambda name: rows[name]["ndcg@10"])
    return {
        "best_service_over_als": ratio(rows[best]["ndcg@10"], rows[ALS]["ndcg@10"]),
        "best_service_row": best,
        "user_knn_default_over_plain": ratio(rows[USER_KNN]["ndcg@10"], rows[PLAIN]["ndcg@10"]),
    }


# --- report ------------------------------------------------------------------------------


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def format_report(results: Sequence[dict[str, Any]], opts: Options) -> str:
    """One markdown table (a row per data set and recommender), then ratios and notes."""
    head = ["data set", "recommender", *COLUMNS, "fit s", "tuning s", "recommend p50 ms"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for result in results:
        for name, row in result["rows"].items():
            cells = [_cell(row[key], 4) for key in COLUMNS.values()]
            cells += [_cell(row["fit_s"], 2), _cell(row["tuning_s"], 1), _cell(row["recommend_p50_ms"], 3)]
            lines.append(f"| {result['name']} | {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for result in results:
        r = result["ratios"]
        lines.append(
            f"- {result['name']} ({result['protocol']}): {result['train']:,} train / {result['test']:,} test "
            f"interactions, {result['users']:,} users × {result['items']:,} items, "
            f"{result['evaluated_users']:,} test users evaluated ({result['latency_users']:,} timed). "
            "NDCG@10 of the best ml-service row "
            f"({r['best_service_row']}) / tuned implicit ALS: {_cell(r['best_service_over_als'], 2)}; "
            "ml-service user-KNN (default) / plain cosine user-KNN: "
            f"{_cell(r['user_knn_default_over_plain'], 2)}."
        )
    budget = (
        f"{opts.tuning_seconds:g} s" if opts.tuning_seconds else "60 s up to 100k interactions, more above"
    )
    lines += [
        "",
        "MAP is the msr protocol's `map` (precision at each hit in the top 10, divided by all of the "
        "user's test items), reported on temporal data too. Recommend p50 is the median time of one "
        "top-10 ranking call (the evaluation ranker, for ml-service `rank_known_user`, not "
        "`recommend(query)`) over the evaluated users sampled for latency. Fit s starts from the built "
        "matrix except for ml-service rows, which build it (and post features) from the frames; plain "
        "user-KNN's fit is every user's neighbour search. Tuning s is the Optuna search on a "
        f"validation cut of train (per model: {budget}, at most {opts.tuning_trials} trials), without "
        f"the final refit. Threads per library (BLAS, implicit, scikit-learn, ml-service): {opts.threads}.",
    ]
    return "\n".join(lines)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="holds the MovieLens and Last.fm files")
    parser.add_argument(
        "--generated", type=int, nargs="*", default=[100_000, 2_000_000], help="sizes; none skips"
    )
    parser.add_argument("--work-dir", type=Path, help="generated files, reused (default: a temp dir)")
    parser.add_argument("--max-users", type=int, default=5000, help="test users evaluated on generated data")
    parser.add_argument("--tuning-seconds", type=float, help="budget per tuned model (default: by size)")
    parser.add_argument("--tuning-trials", type=int, default=60)
    parser.add_argument("--latency-users", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="per library (BLAS, implicit, sklearn)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    opts = Options(args.threads, args.tuning_seconds, args.tuning_trials, args.latency_users)
    # Two shared cores: one thread per library by default keeps fit times comparable.
    with ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=args.threads))
        work_dir = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work_dir.mkdir(parents=True, exist_ok=True)
        found = datasets(args.generated, args.data_dir, work_dir, args.max_users)
        results = [run_dataset(data, opts) for data in found]
    if not results:
        log("nothing to compare: no generated size and no data file found")
        return 1
    print(format_report(results, opts))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
