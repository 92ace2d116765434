"""A closed-loop HTTP load generator: N clients send requests back to back for a fixed time.

    python -m benchmarks.loadgen --base-url http://127.0.0.1:8000 --scenario health \
        --concurrency 8 --duration 10 --payloads payloads.json [--engine wrk|httpx]

Runs in its own process so the service's workers do not share an interpreter with the clients.
Prints one JSON object: requests, errors, req/s, items/s and latency percentiles in milliseconds.

The default engine is wrk (`apt-get install wrk`) when it is on PATH: written in C, it spends a
fraction of the CPU an asyncio client does per request, and on a 2-core machine every cycle the
client takes is a cycle the server under test does not get. The same scenarios are rendered into
request bodies for it (benchmarks/wrk_scenario.lua). Without wrk, an httpx client runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

TRACK_BATCH = 100
WRK_SCRIPT = Path(__file__).with_name("wrk_scenario.lua")
WRK_BODIES = 500  # distinct request bodies per scenario, cycled through


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] | None = None
    items: int = 1
    expect_source: str | None = None


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wrong_source: int = 0
    items: int = 0
    first_error: str | None = None


@dataclass(frozen=True)
class Summary:
    scenario: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    wrong_source: int
    rps: float
    items_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    first_error: str | None
    engine: str = "httpx"


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def scenario_factory(name: str, payloads: dict[str, list[str]], seed: int) -> Callable[[], Request]:
    """A function returning the next request of scenario `name`, drawing ids from `payloads`."""
    rng = random.Random(seed)
    if name == "health":
        return lambda: Request("GET", "/health")
    if name == "floor":
        return lambda: Request("GET", "/constant")
    if name == "generate-computed":
        # exclude_seen=false lists are never stored, so every request runs the model.
        computed = itertools.cycle(payloads["computed_users"])
        return lambda: Request(
            "POST",
            "/recommendations/generate",
            {"user_id": next(computed), "limit": 50, "context": {"exclude_seen": False}},
            expect_source="model",
        )
    if name == "generate-precomputed":
        precomputed = itertools.cycle(payloads["precomputed_users"])
        return lambda: Request(
            "POST",
            "/recommendations/generate",
            {"user_id": next(precomputed), "limit": 50},
            expect_source="precomputed",
        )
    if name == "track":
        users, posts = payloads["track_users"], payloads["posts"]
        kinds = ("view", "view", "view", "click", "like", "share")

        def batch() -> Request:
            items = [
                {
                    "user_id": rng.choice(users),
                    "post_id": rng.choice(posts),
                    "interaction_type": rng.choice(kinds),
                }
                for _ in range(TRACK_BATCH)
            ]
            return Request("POST", "/interactions/track", {"interactions": items}, items=TRACK_BATCH)

        return batch
    raise SystemExit(f"unknown scenario {name!r}")


async def client_loop(
    http: httpx.AsyncClient,
    next_request: Callable[[], Request],
    tally: Tally,
    record_from: float,
    stop_at: float,
) -> None:
    while (now := time.perf_counter()) < stop_at:
        request = next_request()
        started = time.perf_counter()
        error: str | None = None
        try:
            response = await http.request(request.method, request.path, json=request.body)
            if response.status_code >= 400:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
            elif request.expect_source and response.json()["metadata"]["source"] != request.expect_source:
                tally.wrong_source += 1
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        if now < record_from:
            continue
        if error is None:
            tally.latencies.append(elapsed)
            tally.items += request.items
        else:
            tally.errors += 1
            tally.first_error = tally.first_error or error


async def run(args: argparse.Namespace) -> Summary:
    payloads = json.loads(Path(args.payloads).read_text()) if args.payloads else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    tally = Tally()
    async with httpx.AsyncClient(base_url=args.base_url, limits=limits, timeout=args.timeout) as http:
        started = time.perf_counter()
        record_from = started + args.warmup
        stop_at = record_from + args.duration
        factories = [scenario_factory(args.scenario, payloads, seed) for seed in range(args.concurrency)]
        await asyncio.gather(*(client_loop(http, f, tally, record_from, stop_at) for f in factories))
        seconds = time.perf_counter() - record_from
    latencies = sorted(tally.latencies)
    return Summary(
        scenario=args.scenario,
        concurrency=args.concurrency,
        seconds=round(seconds, 3),
        requests=len(latencies),
        errors=tally.errors,
        wrong_source=tally.wrong_source,
        rps=len(latencies) / seconds,
        items_per_second=tally.items / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        first_error=tally.first_error,
    )


def run_wrk(args: argparse.Namespace) -> Summary:
    """Runs the scenario under wrk with pre-rendered bodies: a warm-up run, then the measured one."""
    payloads = json.loads(Path(args.payloads).read_text()) if args.payloads else {}
    next_request = scenario_factory(args.scenario, payloads, seed=0)
    sample = [next_request() for _ in range(WRK_BODIES)]
    first = sample[0]
    expect = f'"source":"{first.expect_source}"' if first.expect_source else "-"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        bodies = Path(handle.name)
        if first.body is not None:
            handle.writelines(json.dumps(r.body, separators=(",", ":")) + "\n" for r in sample)
    try:

        def wrk(seconds: float) -> dict[str, Any]:
            # wrk takes whole seconds only
            command = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{max(1, round(seconds))}s"]
            command += [f"--timeout={max(1, round(args.timeout))}s"]
            command += ["-s", str(WRK_SCRIPT), args.base_url.rstrip("/") + first.path, "--"]
            command += [first.method, first.path, str(bodies) if first.body is not None else "-", expect]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            return result

        if args.warmup > 0:
            wrk(args.warmup)
        r = wrk(args.duration)
    finally:
        bodies.unlink()
    errors = r["http_errors"] + r["socket_errors"]
    good = r["requests"] - r["http_errors"]
    return Summary(
        scenario=args.scenario,
        concurrency=args.concurrency,
        seconds=r["seconds"],
        requests=r["requests"],
        errors=errors,
        wrong_source=r["wrong"],
        rps=good / r["seconds"],  # successful requests, as the httpx engine counts them
        items_per_second=good * first.items / r["seconds"],
        p50_ms=r["p50_us"] / 1000,
        p95_ms=r["p95_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        first_error=r["first_error"] or (f"{errors} socket errors" if errors else None),
        engine="wrk",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument(
        "--scenario",
        required=True,
        choices=["health", "floor", "generate-computed", "generate-precomputed", "track"],
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--payloads", help="JSON file with computed_users, precomputed_users, track_users, posts"
    )
    parser.add_argument(
        "--engine",
        choices=["wrk", "httpx"],
        default="wrk" if shutil.which("wrk") else "httpx",
        help="wrk when it is installed (it leaves more CPU to the server), else httpx",
    )
    args = parser.parse_args(argv)
    summary = run_wrk(args) if args.engine == "wrk" else asyncio.run(run(args))
    json.dump(asdict(summary), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
