"""Time the data pipeline at several sizes: `python -m benchmarks.data_pipeline --sizes 10k,1m,5m`.

Each stage runs in its own process (peak RSS from os.wait4): generate, validate, load_frames, seed
into a throwaway PostgreSQL database, and as the reference a raw COPY of the same interaction rows
(from a CSV file prepared beforehand) into a plain table with no index or constraint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REFERENCE_TABLE = (
    "CREATE TABLE copy_reference (id uuid, user_id uuid, post_id uuid, interaction_type varchar(16),"
    " metadata jsonb, event_id varchar(128), created_at timestamptz)"
)
COPY_SCRIPT = """
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
with conn, conn.cursor() as cur, open(sys.argv[2], "rb") as fh:
    cur.execute("DROP TABLE IF EXISTS copy_reference")
    cur.execute(sys.argv[3])
    cur.copy_expert("COPY copy_reference FROM STDIN WITH (FORMAT csv)", fh)
"""


@dataclass(frozen=True)
class Result:
    stage: str
    rows: int
    seconds: float
    peak_mb: float


def parse_size(text_value: str) -> int:
    units = {"k": 1_000, "m": 1_000_000}
    text_value = text_value.strip().lower()
    return int(float(text_value[:-1]) * units[text_value[-1]]) if text_value[-1] in units else int(text_value)


def run_stage(stage: str, rows: int, command: list[str]) -> Result:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{stage} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return Result(stage, rows, seconds, usage.ru_maxrss / 1024)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


# Run in a child process, so that the parent stays small: a child's peak RSS includes the parent's
# pages it inherited before exec.
PREPARE_CSV_SCRIPT = """
import sys
import pyarrow as pa, pyarrow.csv as pa_csv
from data.seed_database import TABLES, iter_tables
schema = pa.schema([(name, pa.string()) for name in TABLES["interaction"][1]])
options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
with pa_csv.CSVWriter(sys.argv[2], schema, write_options=options) as writer:
    for kind, table in iter_tables(__import__("pathlib").Path(sys.argv[1])):
        if kind == "interaction":
            writer.write_table(table.cast(schema))
"""


def bench_size(n: int, workdir: Path, database_url: str) -> list[Result]:
    users, posts = max(100, n // 50), max(100, n // 100)
    dataset = workdir / f"data_{n}.jsonl"
    generate = ["--users", str(users), "--posts", str(posts), "--interactions", str(n)]
    fixed = ["--now", "2026-11-01T00:00:00+00:00", "--output", str(dataset)]
    results = [run_stage("generate", n, python("-m", "data.generate_fake_data", *generate, *fixed))]
    results.append(run_stage("validate", n, python("-m", "data.schemas", str(dataset))))
    load = f"from data.io import load_frames; load_frames({str(dataset)!r})"
    results.append(run_stage("load_frames", n, python("-c", load)))
    seed = ["--input", str(dataset), "--database-url", database_url, "--reset"]
    results.append(run_stage("seed (PostgreSQL)", n, python("-m", "data.seed_database", *seed)))
    csv_path = workdir / f"interactions_{n}.csv"
    run_stage("prepare CSV (not timed)", n, python("-c", PREPARE_CSV_SCRIPT, str(dataset), str(csv_path)))
    results.append(
        run_stage(
            "raw COPY reference", n, python("-c", COPY_SCRIPT, database_url, str(csv_path), REFERENCE_TABLE)
        )
    )
    dataset.unlink()
    csv_path.unlink()
    return results


def render(results: list[Result]) -> str:
    lines = [f"| {'stage':<20} | {'rows':>9} | {'seconds':>8} | {'rows/s':>9} | {'peak RSS MB':>11} |"]
    lines.append("|" + "|".join("-" * width for width in (22, 11, 10, 11, 13)) + "|")
    for r in results:
        rate = r.rows / r.seconds
        lines.append(
            f"| {r.stage:<20} | {r.rows:>9} | {r.seconds:>8.1f} | {rate:>9.0f} | {r.peak_mb:>11.0f} |"
        )
    return "\n".join(lines)


def autocommit(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    return urlunsplit((parts.scheme.split("+")[0], parts.netloc, f"/{name}", parts.query, ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10k,1m,5m", help="interaction counts, e.g. 10k,1m,5m")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL))
    args = parser.parse_args(argv)
    name = f"bench_data_{os.getpid()}"
    database_url = with_database(args.admin_url, name)
    autocommit(args.admin_url, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="bench_data_") as workdir:
            for n in (parse_size(size) for size in args.sizes.split(",")):
                results = bench_size(n, Path(workdir), database_url)
                ratio = results[3].seconds / results[4].seconds
                print(f"\n{n} interactions: seed / raw COPY = {ratio:.1f}x\n{render(results)}", flush=True)
    finally:
        autocommit(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
