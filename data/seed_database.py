"""Load a dataset file into the database: `python -m data.seed_database --help`.

The whole file is validated first and nothing is written unless it is valid. The schema is migrated
to head (or dropped and recreated with --reset), then every table is loaded in batches through a
staging table: COPY on PostgreSQL, executemany on SQLite, then INSERT ... SELECT ... ON CONFLICT DO
NOTHING, so a second run inserts nothing. Everything is one transaction: a failure leaves no rows.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from sqlalchemy import Connection
from tqdm import tqdm

from app.infrastructure.db.engine import build_engine
from app.infrastructure.jobs import run_job
from data.db_targets import BULK_ROWS, PostgresTarget, SeedError, SqliteTarget
from data.io import SECTION_KEYS, is_json_lines, iter_byte_blocks, iter_records, metadata_objects, parse_lines
from data.schemas import validate_file

TABLES = {
    "user": ("users", ("id", "username", "display_name", "follower_count", "created_at")),
    "post": ("posts", ("id", "author_id", "content", "topic", "hashtags", "created_at")),
    "interaction": (
        "user_interaction",
        ("id", "user_id", "post_id", "interaction_type", "metadata", "event_id", "created_at"),
    ),
}
JSON_COLUMNS = {"hashtags", "metadata"}


@dataclass
class TableStats:
    table: str
    read: int = 0
    inserted: int = 0
    seconds: float = 0.0

    @property
    def already_present(self) -> int:
        return self.read - self.inserted


def _json_strings(values: list[Any]) -> pa.Array:
    return pa.array(
        [None if v is None else json.dumps(v, separators=(",", ":")) for v in values], pa.string()
    )


def records_table(kind: str, records: list[dict[str, Any]]) -> pa.Table:
    """The rows of a table from parsed records: JSON columns as text, times as the file's ISO strings."""
    columns = TABLES[kind][1]
    values = {column: [record.get(column) for record in records] for column in columns}
    return pa.table(
        {column: _json_strings(v) if column in JSON_COLUMNS else pa.array(v) for column, v in values.items()}
    )


def _interactions_table(rows: pa.Table) -> pa.Table:
    present = rows.column_names
    metadata = metadata_objects(rows.column("metadata")) if "metadata" in present else [None] * rows.num_rows
    return pa.table(
        {
            **{column: rows.column(column) for column in ("id", "user_id", "post_id", "interaction_type")},
            "metadata": _json_strings(metadata),
            "event_id": pa.nulls(rows.num_rows, pa.string()),
            "created_at": rows.column("created_at"),
        }
    )


def _block_tables(block: bytes) -> Iterator[tuple[str, pa.Table]]:
    try:
        table = pa_json.read_json(io.BytesIO(block))
    except pa.ArrowInvalid:
        table = None
    text_columns = ("record", "id", "created_at")
    if table is None or any(not pa.types.is_string(table.schema.field(c).type) for c in text_columns):
        records = parse_lines([line for line in block.splitlines() if line.strip()])
        for kind in TABLES:
            subset = [record for record in records if record.get("record") == kind]
            if subset:
                yield kind, records_table(kind, subset)
        return
    for kind in TABLES:
        rows = table.filter(pc.equal(table.column("record"), kind))
        if rows.num_rows:
            yield (
                kind,
                _interactions_table(rows) if kind == "interaction" else records_table(kind, rows.to_pylist()),
            )


def iter_tables(path: Path, batch_size: int = 50_000) -> Iterator[tuple[str, pa.Table]]:
    """Rows to load, in file order (users, then posts, then interactions), as Arrow tables."""
    if is_json_lines(path):
        for block in iter_byte_blocks(path):
            yield from _block_tables(block)
        return
    kind, batch = "", list[dict[str, Any]]()
    for record_kind, record in iter_records(path):
        if (record_kind != kind or len(batch) >= batch_size) and batch:
            yield kind, records_table(kind, batch)
            batch = []
        kind = record_kind
        if kind in TABLES:
            batch.append(record)
    if batch:
        yield kind, records_table(kind, batch)


def load(
    conn: Connection, path: Path, totals: dict[str, int], bulk_rows: int = BULK_ROWS
) -> list[TableStats]:
    target = PostgresTarget(conn, bulk_rows) if conn.dialect.name == "postgresql" else SqliteTarget(conn)
    stats = {kind: TableStats(table) for kind, (table, _) in TABLES.items()}
    for kind, (table, _) in TABLES.items():
        target.begin(table, totals[kind])
    bars = {
        kind: tqdm(total=totals[kind], desc=table, unit="row", disable=None)
        for kind, (table, _) in TABLES.items()
    }
    try:
        for kind, rows in iter_tables(path):
            started = time.perf_counter()
            stats[kind].inserted += target.write(TABLES[kind][0], rows)
            stats[kind].read += rows.num_rows
            stats[kind].seconds += time.perf_counter() - started
            bars[kind].update(rows.num_rows)
    finally:
        for bar in bars.values():
            bar.close()
    started = time.perf_counter()
    target.finish()
    stats["interaction"].seconds += time.perf_counter() - started
    return list(stats.values())


def seed(
    input_path: Path, database_url: str, reset: bool = False, bulk_rows: int = BULK_ROWS
) -> list[TableStats]:
    """Validate, migrate and load; raises SeedError (nothing written) when the input is unusable.

    On PostgreSQL, a table receiving at least `bulk_rows` rows has its indexes and foreign keys rebuilt once.
    """
    if not input_path.is_file():
        raise SeedError(f"input file not found: {input_path}; run python -m data.generate_fake_data first")
    report = validate_file(input_path)
    if not report.ok:
        raise SeedError(f"{report.render()}\nthe input is invalid: nothing was written; fix or regenerate it")
    from app.infrastructure.db.migrate import reset as reset_schema
    from app.infrastructure.db.migrate import upgrade_to_head

    (reset_schema if reset else upgrade_to_head)(database_url)
    engine = build_engine(database_url, connect_timeout_seconds=10, statement_timeout_ms=3_600_000)
    try:
        with engine.begin() as conn:
            return load(conn, input_path, {kind: report.counts[kind] for kind in SECTION_KEYS}, bulk_rows)
    finally:
        engine.dispose()


def render_summary(stats: list[TableStats], total_seconds: float) -> str:
    lines = [f"{'table':<18}{'read':>10}{'inserted':>10}{'present':>10}{'seconds':>9}{'rows/s':>10}"]
    for s in stats:
        rate = s.read / s.seconds if s.seconds else 0.0
        lines.append(
            f"{s.table:<18}{s.read:>10}{s.inserted:>10}{s.already_present:>10}{s.seconds:>9.1f}{rate:>10.0f}"
        )
    lines.append(f"done in {total_seconds:.1f} s (validation and migration included)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate a dataset file and load it into the database.")
    parser.add_argument("--input", type=Path, default=Path("data/fake_interactions.json"))
    parser.add_argument("--database-url", default=None, help="default: the service settings (DATABASE_URL)")
    parser.add_argument("--reset", action="store_true", help="drop every table and recreate the schema first")
    args = parser.parse_args(argv)
    if args.database_url is None:
        from app.infrastructure.config import Settings

        args.database_url = Settings().database_url
    started = time.perf_counter()
    try:
        stats = seed(args.input, args.database_url, reset=args.reset)
    except SeedError as error:
        print(f"seed failed: {error}", file=sys.stderr)
        return 1
    print(render_summary(stats, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(run_job("seed", main))
