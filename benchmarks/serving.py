"""Serving benchmark: req/s and latency percentiles of the real service under 1, 8 and 64 clients.

    uv run python -m benchmarks.serving                 # 100k users, 50k posts, 2M interactions
    uv run python -m benchmarks.serving --reuse-data    # keep the generated file between runs
    uv run python -m benchmarks.serving --keep-state    # also keep the seeded database and model

Seeds a throwaway PostgreSQL database with generated data, trains and promotes a model (which
precomputes feeds for the most recently active users), starts
`uvicorn --factory app.main:create_app --workers 2` and, with the same server settings, a FastAPI
app that returns a constant (the framework's floor).
A separate load-generator process (benchmarks/loadgen.py) then drives each scenario for a fixed
time; the table shows each one's throughput as a fraction of the floor's at the same concurrency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import upgrade_to_head

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
HTTP_PROTOCOL = "app.presentation.http_protocol:LimitedHttpProtocol"  # as every start command passes
SCENARIOS = ("floor", "health", "generate-precomputed", "generate-computed", "track")


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def run_module(module: str, *args: str, env: Mapping[str, str] | None = None) -> float:
    """Runs `python -m module args`; returns the seconds it took, exits with its output on failure."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"python -m {module} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return time.perf_counter() - started


def autocommit(url: str, statement: str, params: Mapping[str, Any] | None = None) -> None:
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement), dict(params or {}))
    finally:
        engine.dispose()


def scalar(url: str, query: str, params: Mapping[str, Any] | None = None) -> Any:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return conn.scalar(text(query), dict(params or {}))
    finally:
        engine.dispose()


def database_exists(admin_url: str, name: str) -> bool:
    return scalar(admin_url, "SELECT 1 FROM pg_database WHERE datname = :n", {"n": name}) is not None


@contextmanager
def benchmark_state(args: argparse.Namespace) -> Iterator[tuple[str, Path, bool]]:
    """(database url, models dir, already prepared). Throwaway unless --keep-state, which names
    both after the dataset and reuses them while the database exists."""
    if args.keep_state:
        name = f"ml_bench_{args.users}u_{args.posts}p_{args.interactions}i_s{args.seed}"
        models_dir = RESULTS / f"models-{name}"
        kept = [models_dir / "registry.json", models_dir / SEEDED_UNTIL]
        prepared = database_exists(args.admin_url, name) and all(path.exists() for path in kept)
        if not prepared:
            autocommit(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            autocommit(args.admin_url, f'CREATE DATABASE "{name}"')
        step(f"{'reusing' if prepared else 'keeping'} database {name} and {models_dir.name}")
        yield (
            make_url(normalise_url(args.admin_url)).set(database=name).render_as_string(hide_password=False),
            models_dir,
            prepared,
        )
        return
    name = f"ml_bench_{uuid.uuid4().hex[:10]}"
    autocommit(args.admin_url, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="ml-bench-") as tmp:
            url = make_url(normalise_url(args.admin_url)).set(database=name)
            yield url.render_as_string(hide_password=False), Path(tmp) / "models", False
    finally:
        autocommit(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dataset(args: argparse.Namespace) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"dataset-{args.users}u-{args.posts}p-{args.interactions}i-s{args.seed}.jsonl"
    if args.reuse_data and path.exists():
        step(f"reusing {path.relative_to(PROJECT_ROOT)}")
        return path
    step(f"generating {args.users} users, {args.posts} posts, {args.interactions} interactions")
    seconds = run_module(
        "data.generate_fake_data",
        *("--users", str(args.users), "--posts", str(args.posts)),
        *("--interactions", str(args.interactions), "--days", "30", "--seed", str(args.seed)),
        *("--output", str(path)),
    )
    step(f"generated in {seconds:.1f} s")
    return path


SEEDED_UNTIL = "seeded_until.txt"  # beside the kept model: the newest seeded interaction


def prepare(url: str, data: Path, models_dir: Path, precompute_users: int) -> None:
    upgrade_to_head(url)
    step("seeding")
    step(f"seeded in {run_module('data.seed_database', '--input', str(data), '--database-url', url):.1f} s")
    models_dir.mkdir(parents=True, exist_ok=True)
    newest = scalar(url, "SELECT max(created_at)::text FROM user_interaction")
    (models_dir / SEEDED_UNTIL).write_text(str(newest))
    step(f"training and precomputing {precompute_users} users")
    seconds = run_module(
        "training.train",
        *("--database-url", url, "--models-dir", str(models_dir), "--no-mlflow", "--no-tune"),
        *("--precompute-users", str(precompute_users)),
    )
    step(f"trained in {seconds:.1f} s")
    vacuum(url)


def vacuum(url: str) -> None:
    """Seeding and precomputing leave work for autovacuum: done now rather than during a run."""
    started = time.perf_counter()
    autocommit(url, "VACUUM ANALYZE")
    step(f"vacuumed in {time.perf_counter() - started:.1f} s")


def refresh(url: str, models_dir: Path, precompute_users: int) -> None:
    """Kept state: back to the seeded data, and fresh lists stored again (the old ones expire)."""
    upgrade_to_head(url)
    seeded_until = (models_dir / SEEDED_UNTIL).read_text().strip()
    tracked = "DELETE FROM user_interaction WHERE created_at > CAST(:t AS timestamptz)"
    autocommit(url, tracked, {"t": seeded_until})
    # Deleting the tracked rows leaves their index entries' pages behind; without a rebuild
    # every run on kept state would insert into larger indexes than the one before.
    autocommit(url, "REINDEX TABLE user_interaction")
    autocommit(url, "TRUNCATE user_recommendation")
    step(f"precomputing {precompute_users} users again")
    seconds = run_module(
        "training.precompute",
        *("--database-url", url, "--limit", str(precompute_users)),
        env={"ML_MODEL__MODELS_DIR": str(models_dir)},
    )
    step(f"precomputed in {seconds:.1f} s")
    vacuum(url)


def payloads(url: str, path: Path, sample: int) -> dict[str, list[str]]:
    """User and post ids for the load generator, written to `path`."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            precomputed = [
                str(u)
                for u in conn.scalars(
                    text("SELECT DISTINCT user_id FROM user_recommendation WHERE expires_at > now()")
                )
            ]
            computed = [
                str(u)
                for u in conn.scalars(
                    text(
                        "SELECT user_id FROM (SELECT DISTINCT user_id FROM user_interaction) active"
                        " WHERE NOT EXISTS"
                        " (SELECT 1 FROM user_recommendation r WHERE r.user_id = active.user_id)"
                        " ORDER BY md5(user_id::text) LIMIT :n"
                    ),
                    {"n": sample},
                )
            ]
            # Tracking writes history; it goes to other users than the feeds read, so that one
            # round's track scenario does not lengthen the next round's computed histories.
            readers = {*precomputed, *computed}
            users = [
                str(u)
                for u in conn.scalars(
                    text("SELECT id FROM users ORDER BY md5('track' || id::text) LIMIT :n"),
                    {"n": sample + len(readers)},
                )
                if str(u) not in readers
            ][:sample]
            posts = [
                str(p)
                for p in conn.scalars(
                    text("SELECT id FROM posts ORDER BY md5(id::text) LIMIT :n"), {"n": sample}
                )
            ]
    finally:
        engine.dispose()
    result = {
        "precomputed_users": precomputed,
        "computed_users": computed,
        "track_users": users,
        "posts": posts,
    }
    path.write_text(json.dumps(result))
    return result


class Server:
    """`uvicorn APP --workers N` on a free port; stopped by its pid."""

    def __init__(
        self, app: str, env: Mapping[str, str], workers: int, log: Path, *, factory: bool = False
    ) -> None:
        self.app, self.env, self.workers, self.log = app, env, workers, log
        self.factory = factory
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = math.nan

    def __enter__(self) -> Server:
        command = [sys.executable, "-m", "uvicorn", *(["--factory"] if self.factory else []), self.app]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers), "--no-access-log", "--log-level", "warning"]
        command += ["--http", HTTP_PROTOCOL]  # the service's limits, for the floor app too
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started = time.monotonic()
        deadline = started + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.app} exited; see {self.log}")
            try:
                if httpx.get(f"{self.base_url}/openapi.json", timeout=2).status_code == 200:
                    self.start_seconds = time.monotonic() - started
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.app} did not start within 120 s; see {self.log}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load(
    base_url: str, scenario: str, clients: int, seconds: float, payload_file: Path, engine: str | None
) -> dict[str, Any]:
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.loadgen", "--base-url", base_url, "--scenario", scenario),
            *("--concurrency", str(clients), "--duration", str(seconds), "--payloads", str(payload_file)),
            *(("--engine", engine) if engine else ()),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"load generator failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for repeated runs of a scenario: the median of each figure, errors summed."""
    row = dict(runs[0])
    for key in ("rps", "items_per_second", "p50_ms", "p95_ms", "p99_ms"):
        row[key] = statistics.median(r[key] for r in runs)
    for key in ("requests", "errors", "wrong_source"):
        row[key] = sum(r[key] for r in runs)
    row["runs"] = len(runs)
    row["first_error"] = next((r["first_error"] for r in runs if r["first_error"]), None)
    return row


def table(results: list[dict[str, Any]]) -> str:
    floor = {r["concurrency"]: r["rps"] for r in results if r["scenario"] == "floor"}
    header = ("scenario", "clients", "req/s", "items/s", "p50 ms", "p95 ms", "p99 ms", "errors", "vs floor")
    rows = [header]
    for r in results:
        ratio = r["rps"] / floor[r["concurrency"]] if floor.get(r["concurrency"]) else math.nan
        errors = f"{r['errors']}" + (f" ({r['wrong_source']} wrong source)" if r["wrong_source"] else "")
        rows.append(
            (
                r["scenario"],
                str(r["concurrency"]),
                f"{r['rps']:.0f}",
                f"{r['items_per_second']:.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                errors,
                f"{ratio:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    by = {(r["scenario"], r["concurrency"]): r for r in results}
    floor = {r["concurrency"]: r["rps"] for r in results if r["scenario"] == "floor"}
    out: list[str] = []

    def verdict(ok: bool, text_value: str) -> None:
        out.append(f"[{'PASS' if ok else 'MISS'}] {text_value}")

    for scenario, limit in (("generate-computed", 50.0), ("generate-precomputed", 10.0)):
        if r := by.get((scenario, 8)):
            verdict(
                r["p99_ms"] <= limit, f"{scenario} p99 at 8 clients {r['p99_ms']:.1f} ms <= {limit:.0f} ms"
            )
    ratios = [
        (c, r["rps"] / floor[c]) for (s, c), r in by.items() if s == "generate-precomputed" and floor.get(c)
    ]
    if ratios:
        best_c, best = max(ratios, key=lambda pair: pair[1])
        verdict(
            best >= 0.4, f"precomputed throughput {best:.0%} of the floor's (best, {best_c} clients) >= 40%"
        )
    track = [r["items_per_second"] for (s, _), r in by.items() if s == "track"]
    if track:
        verdict(max(track) >= 20_000, f"track {max(track):,.0f} interactions/s (best) >= 20,000")
    errors = sum(r["errors"] + r["wrong_source"] for r in results)
    verdict(errors == 0, f"{errors} errors or wrong sources in total")
    return out


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse-data", action="store_true", help="reuse the generated file if it exists")
    parser.add_argument("--precompute-users", type=int, default=2000)
    parser.add_argument("--clients", default="1,8,64", help="comma-separated concurrency levels")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds over all scenarios; the table shows medians"
    )
    parser.add_argument(
        "--engine", choices=["wrk", "httpx"], help="load generator (default: wrk if it is installed)"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the service, e.g. ML_KEPT_LISTS=0 to read every stored list from the database",
    )
    parser.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the seeded database and trained model, and reuse them on the next run",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    clients = [int(c) for c in args.clients.split(",")]
    scenarios = [s for s in args.scenarios.split(",") if s]
    with (
        tempfile.TemporaryDirectory(prefix="ml-bench-") as tmp,
        benchmark_state(args) as (url, models_dir, prepared),
    ):
        work = Path(tmp)
        if not prepared:
            prepare(url, dataset(args), models_dir, args.precompute_users)
        else:
            refresh(url, models_dir, args.precompute_users)
        ids = payloads(url, work / "payloads.json", sample=5000)
        step(
            f"{len(ids['precomputed_users'])} precomputed users, {len(ids['computed_users'])} others sampled"
        )
        multiproc = work / "prometheus"
        multiproc.mkdir()
        env = {
            "DATABASE_URL": url,
            "ML_MODEL__MODELS_DIR": str(models_dir),
            "ML_LOG_JSON": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            **dict(setting.split("=", 1) for setting in args.service_env),
        }
        with (
            Server(
                "app.main:create_app", env, args.workers, RESULTS / "service.log", factory=True
            ) as service,
            Server("benchmarks.floor_app:app", {}, args.workers, RESULTS / "floor.log") as floor,
        ):
            step(f"service answering {service.start_seconds:.1f} s after start ({args.workers} workers)")
            # Rounds rather than back-to-back repeats: a noisy spell then hits every scenario.
            runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for round_ in range(1, args.repeat + 1):
                for scenario in scenarios:
                    base_url = floor.base_url if scenario == "floor" else service.base_url
                    for n in clients:
                        step(f"round {round_}/{args.repeat}: {scenario}, {n} clients, {args.duration:.0f} s")
                        result = load(
                            base_url, scenario, n, args.duration, work / "payloads.json", args.engine
                        )
                        # Each run, so that the spread behind the medians is on record.
                        step(
                            f"  {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms,"
                            f" p99 {result['p99_ms']:.1f} ms, {result['errors']} errors"
                        )
                        if result["first_error"]:
                            step(f"  first error: {result['first_error']}")
                        runs.setdefault((scenario, n), []).append(result)
            results = [median_run(rs) for rs in runs.values()]
    print(f"\nServing benchmark: {args.users} users, {args.posts} posts, {args.interactions} interactions,")
    print(
        f"{args.workers} uvicorn workers, {os.cpu_count()} CPUs shared with the load generator"
        f" ({results[0]['engine'] if results else '-'}), {args.duration:.0f} s per run,"
        f" median of {args.repeat} rounds (errors summed)"
        + (f"; service settings {' '.join(args.service_env)}" if args.service_env else "")
        + "\n"
    )
    print(table(results))
    print()
    print("\n".join(verdicts(results)))
    (RESULTS / "last.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
