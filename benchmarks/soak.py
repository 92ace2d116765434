"""Soak: a bounded mixed load for minutes, watching errors, latency per route and worker memory.

    uv run python -m benchmarks.soak --keep-state                  # 10 minutes, 64 clients
    uv run python -m benchmarks.soak --keep-state --minutes 2 --clients 16

Uses the state of benchmarks/serving.py (100k users, 50k posts, 2M interactions; `--keep-state`
reuses it), starts the service with 2 workers, and runs the clients in a separate process: each
of `--clients` clients sends a request, waits `--think` seconds, and so on. A request is a feed
page for a user with a stored list (then, half the time, the next page by its cursor), a feed
computed for a user without one, a batch of tracked views, or a health check. Prints errors by
route and status, p50/p99 per route, the workers' resident memory after the first minute and at
the end, and health p99 per minute, then a verdict: no errors, memory growth under 10% after the
first minute, health p99 flat (no minute over twice the first full minute's, or 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.loadgen import percentile
from benchmarks.serving import (
    PROJECT_ROOT,
    RESULTS,
    Server,
    benchmark_state,
    dataset,
    payloads,
    prepare,
    refresh,
    step,
)
from benchmarks.serving import arguments as serving_arguments

TRACK_BATCH = 20
# Shares of the mix: (route, weight).
MIX = (("stored", 40), ("computed", 15), ("track", 30), ("health", 15))


class Clients:
    """The client side (its own process): records (route, status, seconds, minute) per request."""

    def __init__(self, base_url: str, ids: dict[str, list[str]], think: float, seed: int) -> None:
        self.base_url, self.ids, self.think = base_url, ids, think
        self.rng = random.Random(seed)
        self.records: list[tuple[str, int, float, int]] = []
        self.failures: Counter[str] = Counter()
        self.started = time.monotonic()

    async def send(self, http: httpx.AsyncClient, route: str, method: str, path: str, body: Any) -> Any:
        began = time.monotonic()
        try:
            response = await http.request(method, path, json=body)
            status, answer = response.status_code, response
        except httpx.HTTPError as error:
            status, answer = 0, None  # no answer: a transport error or a client timeout
            self.failures[f"{route}: {type(error).__name__}"] += 1
        self.records.append((route, status, time.monotonic() - began, int((began - self.started) // 60)))
        return answer

    async def one(self, http: httpx.AsyncClient) -> None:
        route = self.rng.choices([r for r, _ in MIX], [w for _, w in MIX])[0]
        if route == "health":
            await self.send(http, route, "GET", "/health", None)
        elif route == "track":
            items = [
                {
                    "event_id": str(uuid.uuid4()),
                    "user_id": self.rng.choice(self.ids["track_users"]),
                    "post_id": self.rng.choice(self.ids["posts"]),
                    "interaction_type": "view",
                }
                for _ in range(TRACK_BATCH)
            ]
            await self.send(http, route, "POST", "/interactions/track", {"interactions": items})
        else:
            pool = self.ids["precomputed_users" if route == "stored" else "computed_users"]
            body: dict[str, Any] = {"user_id": self.rng.choice(pool), "limit": 20}
            if route == "computed":
                body["context"] = {"exclude_seen": False}
            answer = await self.send(http, route, "POST", "/recommendations/generate", body)
            cursor = answer.json()["metadata"].get("next_cursor") if answer and answer.is_success else None
            if cursor and self.rng.random() < 0.5:
                await self.send(
                    http, "next page", "POST", "/recommendations/generate", {**body, "cursor": cursor}
                )

    async def run(self, clients: int, seconds: float) -> None:
        # Idle connections expire before the server's keep-alive timeout (uvicorn's 5 s), as a
        # client or proxy in front should: at equal timeouts a request can meet a closing
        # connection and get no answer.
        limits = httpx.Limits(
            max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=4.0
        )
        stop_at = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=10.0) as http:

            async def client() -> None:
                while time.monotonic() < stop_at:
                    await self.one(http)
                    await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))

            await asyncio.gather(*(client() for _ in range(clients)))


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--payloads", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--think", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    clients = Clients(args.base_url, json.loads(Path(args.payloads).read_text()), args.think, seed=1)
    asyncio.run(clients.run(args.clients, args.seconds))
    for failure, count in clients.failures.most_common():
        print(f"no answer: {failure} × {count}", file=sys.stderr)
    Path(args.out).write_text(json.dumps(clients.records))
    return 0


def worker_rss_mb(master_pid: int) -> dict[int, float]:
    """Resident memory of each worker process under the uvicorn master, in MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    rss: dict[int, float] = {}
    for pid in map(int, children):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            continue  # multiprocessing's resource tracker, not a worker
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        rss[pid] = kb / 1024
    return rss


def report(records: list[list[Any]], rss_start: dict[int, float], rss_end: dict[int, float]) -> bool:
    by_route: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[tuple[str, int]] = Counter()
    health_by_minute: dict[int, list[float]] = defaultdict(list)
    for route, status, seconds, minute in records:
        statuses[route, status] += 1
        if 200 <= status < 300:
            by_route[route].append(seconds)
        if route == "health":
            health_by_minute[minute].append(seconds)
    print(f"\n{'route':12} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for route in sorted({r for r, _ in statuses}):
        answered = sorted(by_route[route])
        counts = ", ".join(f"{s or 'no answer'}: {n}" for (r, s), n in sorted(statuses.items()) if r == route)
        total = sum(n for (r, _), n in statuses.items() if r == route)
        p50, p99 = percentile(answered, 0.5) * 1e3, percentile(answered, 0.99) * 1e3
        print(f"{route:12} {total:9d} {p50:8.1f} {p99:8.1f}  {counts}")
    print(f"\n{'worker':>8} {'RSS after 1 min MB':>19} {'RSS at end MB':>14} {'growth':>7}")
    growths = []
    for pid, start in rss_start.items():
        end = rss_end.get(pid, float("nan"))
        growths.append(end / start - 1)
        print(f"{pid:8d} {start:19.1f} {end:14.1f} {end / start - 1:7.1%}")
    minutes = sorted(health_by_minute)
    p99s = [percentile(sorted(health_by_minute[m]), 0.99) * 1e3 for m in minutes]
    print("\nhealth p99 per minute (ms): " + ", ".join(f"{p:.1f}" for p in p99s))
    errors = sum(n for (_, status), n in statuses.items() if not 200 <= status < 300)
    full = p99s[1:-1] or p99s  # the first and last minutes are partial or warming up
    worst, typical = max(full), statistics.median(full)
    growth = max(growths, default=float("inf"))
    checks = [
        (errors == 0, f"{errors} errors"),
        (growth < 0.10, f"worker RSS growth after the first minute {growth:.1%} < 10%"),
        (
            worst <= max(2 * typical, 50.0),
            f"health p99 per minute flat (max {worst:.1f}, median {typical:.1f} ms)",
        ),
    ]
    print()
    for ok, text in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {text}")
    return all(ok for ok, _ in checks)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["client"]:
        return client_main(argv[1:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--think", type=float, default=0.2, help="seconds a client waits between requests")
    parser.add_argument("--keep-state", action="store_true", help="reuse benchmarks/serving.py's kept state")
    own, rest = parser.parse_known_args(argv)
    state = serving_arguments([*rest, *(["--keep-state"] if own.keep_state else [])])
    with (
        tempfile.TemporaryDirectory(prefix="ml-soak-") as tmp,
        benchmark_state(state) as (url, models, ready),
    ):
        work = Path(tmp)
        if ready:
            refresh(url, models, state.precompute_users)
        else:
            prepare(url, dataset(state), models, state.precompute_users)
        payloads(url, work / "payloads.json", sample=5000)
        (work / "prometheus").mkdir()
        env = {
            "DATABASE_URL": url,
            "ML_MODEL__MODELS_DIR": str(models),
            "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
        }
        with Server("app.main:create_app", env, state.workers, RESULTS / "soak.log", factory=True) as service:
            assert service.process is not None
            seconds = own.minutes * 60
            step(f"{own.clients} clients for {own.minutes:g} minutes against {service.base_url}")
            clients = subprocess.Popen(
                [
                    *(sys.executable, "-m", "benchmarks.soak", "client", "--base-url", service.base_url),
                    *("--payloads", str(work / "payloads.json"), "--clients", str(own.clients)),
                    *(
                        "--seconds",
                        str(seconds),
                        "--think",
                        str(own.think),
                        "--out",
                        str(work / "records.json"),
                    ),
                ],
                cwd=PROJECT_ROOT,
            )
            time.sleep(min(60.0, seconds / 2))
            rss_start = worker_rss_mb(service.process.pid)
            step("worker RSS after the first minute: " + ", ".join(f"{v:.0f} MB" for v in rss_start.values()))
            began = time.monotonic()
            while clients.poll() is None:
                time.sleep(30)
                rss = ", ".join(f"{v:.0f} MB" for v in worker_rss_mb(service.process.pid).values())
                step(f"{(time.monotonic() - began) / 60 + 1:.1f} min: worker RSS {rss}")
            rss_end = worker_rss_mb(service.process.pid)
            if clients.returncode != 0:
                raise SystemExit("the client process failed; see its output above")
        records = json.loads((work / "records.json").read_text())
    print(
        f"\nSoak: {own.clients} clients, think {own.think:g} s, {own.minutes:g} min, {state.workers} workers"
    )
    return 0 if report(records, rss_start, rss_end) else 1


if __name__ == "__main__":
    raise SystemExit(main())
