"""Start-up benchmark: seconds from `ml-service serve` to /health/live and /health/ready.

    uv run python -m benchmarks.startup                  # 1 and 2 workers, cold and warm, 3 runs
    uv run python -m benchmarks.startup --runs 5 --workers 2
    uv run python -m benchmarks.startup --work-dir /tmp/startup   # keep (and reuse) the demo state

Builds the demo's state once (generated data in an embedded SQLite database, a trained and
promoted model), then starts the service again and again:

- cold: no compiled bytecode of the project or its packages. `PYTHONPYCACHEPREFIX` points at a
  directory holding only the standard library's bytecode, so every other module is compiled from
  source, as in an image built without `UV_COMPILE_BYTECODE`; nothing is written back.
- warm: the bytecode a first start wrote into a directory of its own, read by every later start.

For each start it records when /health/live and /health/ready first answered 200 and, from the
workers' logs, when every worker was accepting ("Application startup complete") and serving the
model ("serving model version"), counted from the launch of `ml-service serve`; "worker start →
live" counts from the start of the worker processes instead (/proc), leaving out the supervisor
that spawns them. The reference, measured in the same rounds, is a FastAPI app returning a
constant (benchmarks/floor_app.py) under the same uvicorn workers: what the framework costs
before the service does anything. Medians of the runs; Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.serving import PROJECT_ROOT, free_port, run_module, step

# The demo's sizes (ml-service demo).
USERS, POSTS, INTERACTIONS = 200, 1000, 20000
STARTED = "Application startup complete"
SERVING = "serving model version"
TIMEOUT = 180.0


def prepare(work: Path) -> dict[str, str]:
    """The demo's database and model under `work` (reused when already there); the service's env."""
    database, models = work / "demo.db", work / "models"
    env = {"DATABASE_URL": f"sqlite:///{database}", "ML_MODEL__MODELS_DIR": str(models)}
    if (models / "registry.json").exists() and database.exists():
        step(f"reusing the demo state in {work}")
        return env
    data = work / "interactions.json"
    step(f"generating {USERS} users, {POSTS} posts, {INTERACTIONS} interactions")
    run_module(
        "data.generate_fake_data",
        *("--users", str(USERS), "--posts", str(POSTS), "--interactions", str(INTERACTIONS)),
        *("--output", str(data)),
    )
    step("migrating and seeding the SQLite database")
    run_module("cli.main", "migrate", env=env)
    run_module("data.seed_database", "--input", str(data), "--database-url", env["DATABASE_URL"])
    step("training and promoting a model")
    run_module(
        "training.train",
        *("--database-url", env["DATABASE_URL"], "--models-dir", str(models)),
        *("--no-tune", "--no-mlflow", "--precompute-users", "0"),
    )
    return env


@dataclass
class Start:
    """One start of a server: seconds after launch of each event (None: never seen)."""

    live: float | None = None
    ready: float | None = None
    all_live: float | None = None
    all_ready: float | None = None
    # When the (first) worker process started: 0 with one worker, which is the launched process.
    worker_started: float | None = None
    log: list[str] = field(default_factory=list)

    @property
    def from_worker_start(self) -> float | None:
        """Seconds from the workers' start until every one of them accepts."""
        if self.all_live is None or self.worker_started is None:
            return None
        return self.all_live - self.worker_started


@dataclass(frozen=True)
class Target:
    name: str
    command: list[str]
    live_path: str
    ready_path: str | None  # None: the floor app, which has nothing to load
    env: Mapping[str, str] = field(default_factory=dict)


def service(workers: int, port: int, work: Path) -> Target:
    command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    # The metric files of each start in a directory of their own, removed with the work dir.
    metrics = tempfile.mkdtemp(prefix="metrics-", dir=work)
    env = {"PROMETHEUS_MULTIPROC_DIR": metrics}
    return Target("service", [*command, "--workers", str(workers)], "/health/live", "/health/ready", env)


def floor(workers: int, port: int, work: Path) -> Target:
    del work  # nothing of its own to keep
    command = [sys.executable, "-m", "uvicorn", "benchmarks.floor_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    return Target("floor", command, "/constant", None)


def measure(target: Target, port: int, workers: int, env: Mapping[str, str]) -> Start:
    """Launches `target`, polls it until every worker serves, stops it (by its pid)."""
    result = Start()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen(
        target.command,
        cwd=PROJECT_ROOT,
        env={**env, **target.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    counts = {STARTED: 0, SERVING: 0}

    def read_log() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            result.log.append(line)
            at = time.monotonic() - started
            for marker in counts:
                if marker in line:
                    counts[marker] += 1
                    if counts[marker] == workers:
                        if marker == STARTED:
                            result.all_live = at
                        else:
                            result.all_ready = at

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    result.worker_started = 0.0 if workers == 1 else None
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            while time.monotonic() - started < TIMEOUT:
                if process.poll() is not None:
                    raise SystemExit(f"{target.name} exited:\n{''.join(result.log[-40:])}")
                if result.worker_started is None:
                    result.worker_started = worker_start_offset(process.pid, workers)
                if _answers(http, target.live_path) and result.live is None:
                    result.live = time.monotonic() - started
                if result.live is not None and target.ready_path is None:
                    result.ready = result.live
                elif result.live is not None and result.ready is None and _answers(http, target.ready_path):
                    result.ready = time.monotonic() - started
                done = result.ready is not None and result.all_live is not None
                if done and (target.ready_path is None or result.all_ready is not None):
                    break
                time.sleep(0.02)
            else:
                raise SystemExit(f"{target.name} not up within {TIMEOUT:.0f} s:\n{''.join(result.log[-40:])}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
    if target.ready_path is None:
        result.all_ready = result.all_live
    elif result.all_ready is not None and result.all_live is not None:
        # A worker that loads its model before it accepts is ready only once it accepts.
        result.all_ready = max(result.all_ready, result.all_live)
    return result


def worker_start_offset(master: int, workers: int) -> float | None:
    """Seconds between the start of `master` and of its first worker process, once all `workers`
    of them exist (uvicorn spawns them: `multiprocessing.spawn` in their command line)."""
    starts = [start for pid, start in processes(master) if b"spawn_main" in _cmdline(pid)]
    if len(starts) < workers:
        return None
    own = process_start(master)
    return min(starts) - own if own is not None else None


def processes(parent: int) -> list[tuple[int, float]]:
    """(pid, start in seconds after boot) of each child process of `parent`."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat_fields(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(fields[1]) == parent:
                children.append((int(entry.name), int(fields[19]) / os.sysconf("SC_CLK_TCK")))
    return children


def process_start(pid: int) -> float | None:
    try:
        return int(_stat_fields(pid)[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): state, ppid, ..."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _answers(http: httpx.Client, path: str | None) -> bool:
    if path is None:
        return False
    try:
        # A new connection each time, so that any worker may take it.
        return http.get(path, headers={"connection": "close"}).status_code == 200
    except httpx.TransportError:
        return False


def caches(work: Path, service_env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Environment of each bytecode setting. Warm bytecode is written by one start of each target
    with 2 workers; cold keeps only its standard-library part."""
    warm, cold = work / "pycache-warm", work / "pycache-cold"
    shutil.rmtree(warm, ignore_errors=True)
    shutil.rmtree(cold, ignore_errors=True)
    base = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    writing = {**base, **service_env, "ML_LOG_JSON": "true", "PYTHONPYCACHEPREFIX": str(warm)}
    step("a first start of each target writes the warm bytecode")
    for make in (service, floor):
        port = free_port()
        measure(make(2, port, work), port, 2, writing)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    shutil.copytree(warm / stdlib.relative_to(stdlib.anchor), cold / stdlib.relative_to(stdlib.anchor))
    reading = {**base, **service_env, "ML_LOG_JSON": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    return {
        "cold": {**reading, "PYTHONPYCACHEPREFIX": str(cold)},
        "warm": {**reading, "PYTHONPYCACHEPREFIX": str(warm)},
    }


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if len(present) == len(values) and present else None


def cell(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


COLUMNS = (
    "/health/live (s)",
    "/health/ready (s)",
    "every worker live (s)",
    "every worker ready (s)",
    "worker start → live (s)",
    "floor: every worker live (s)",
    "floor: worker start → live (s)",
)


def table(rows: list[tuple[int, str, dict[str, list[Start]]]]) -> str:
    """Seconds after `ml-service serve` was launched, medians; "worker start → live" counts from the
    start of the worker processes instead (the supervisor's own start-up left out)."""
    lines = ["| workers | bytecode | " + " | ".join(COLUMNS) + " |", "|" + " --- |" * (len(COLUMNS) + 2)]
    for workers, setting, starts in rows:
        svc, ref = starts["service"], starts["floor"]
        values = [
            median([s.live for s in svc]),
            median([s.ready for s in svc]),
            median([s.all_live for s in svc]),
            median([s.all_ready for s in svc]),
            median([s.from_worker_start for s in svc]),
            median([s.all_live for s in ref]),
            median([s.from_worker_start for s in ref]),
        ]
        lines.append(f"| {workers} | {setting} | " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="starts per configuration (the median is shown)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--work-dir", type=Path, help="keep the demo state here and reuse it (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write every start's figures to this file")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="ml-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        envs = caches(work, prepare(work))
        rows: list[tuple[int, str, dict[str, list[Start]]]] = []
        for workers in args.workers:
            for setting, env in envs.items():
                starts: dict[str, list[Start]] = {"service": [], "floor": []}
                for run in range(1, args.runs + 1):
                    # Alternating, so that a noisy spell on the shared machine hits both.
                    for make in (floor, service):
                        port = free_port()
                        target = make(workers, port, work)
                        starts[target.name].append(measure(target, port, workers, env))
                    last, reference = starts["service"][-1], starts["floor"][-1]
                    step(
                        f"{workers} worker(s), {setting}, run {run}/{args.runs}:"
                        f" live {cell(last.all_live)} s ({cell(last.from_worker_start)} s after the workers'"
                        f" start), ready {cell(last.all_ready)} s (floor live {cell(reference.all_live)} s)"
                    )
                rows.append((workers, setting, starts))
                # Each row as soon as it is measured, so that an interrupted run still tells something.
                step(table(rows[-1:]).splitlines()[-1])
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nStart-up: `ml-service serve` on the demo's SQLite database and model, {os.cpu_count()} CPUs,"
        f" median of {args.runs} starts\n"
    )
    print(table(rows))
    if args.json:
        figures = [
            {
                "workers": w,
                "bytecode": s,
                "target": name,
                "starts": [vars(x) | {"log": None} for x in starts[name]],
            }
            for w, s, starts in rows
            for name in starts
        ]
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
