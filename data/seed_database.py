"""Load a dataset file into the database: `python -m data.seed_database --help`.

The whole file is validated first and nothing is written unless it is valid. The schema is migrated
to head (or dropped and recreated with --reset), then every table is loaded in batches through a
staging table: COPY on PostgreSQL, executemany on SQLite, then INSERT ... SELECT ... ON CONFLICT DO
NOTHING, so a second run inserts nothing. Everything is one transaction: a failure leaves no rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text
from tqdm import tqdm

from app.infrastructure.db.engine import build_engine
from data.io import SECTION_KEYS, iter_records
from data.schemas import validate_file

TABLES = {
    "user": ("users", ("id", "username", "display_name", "follower_count", "created_at")),
    "post": ("posts", ("id", "author_id", "content", "topic", "hashtags", "created_at")),
    "interaction": (
        "user_interaction",
        ("id", "user_id", "post_id", "interaction_type", "metadata", "event_id", "created_at"),
    ),
}
# SQL is built from these constant table and column names only, never from the input file.
JSON_COLUMNS = {"hashtags", "metadata"}
UUID_COLUMNS = {"id", "user_id", "post_id", "author_id"}
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite


class SeedError(Exception):
    """The seed cannot proceed; the message says what to do."""


@dataclass
class TableStats:
    table: str
    read: int = 0
    inserted: int = 0
    seconds: float = 0.0

    @property
    def already_present(self) -> int:
        return self.read - self.inserted


def iter_batches(path: Path, size: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Records grouped in batches of one kind, in file order (users, then posts, then interactions)."""
    kind, batch = "", list[dict[str, Any]]()
    for record_kind, record in iter_records(path):
        if record_kind != kind or len(batch) >= size:
            if batch:
                yield kind, batch
            kind, batch = record_kind, []
        batch.append(record)
    if batch:
        yield kind, batch


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class PostgresTarget:
    """COPY a batch as CSV into a temporary staging table that mirrors the target table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def create_stage(self, table: str) -> None:
        self.conn.execute(text(f"CREATE TEMP TABLE stage_{table} (LIKE {table}) ON COMMIT DROP"))

    def stage(self, table: str, columns: tuple[str, ...], records: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerows(
            [[_json_or_none(r.get(c)) if c in JSON_COLUMNS else r.get(c) for c in columns] for r in records]
        )
        buffer.seek(0)
        self.conn.execute(text(f"TRUNCATE stage_{table}"))
        self.cursor.copy_expert(
            f"COPY stage_{table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer
        )


class SqliteTarget:
    """executemany into a temporary staging table, with values in the formats SQLAlchemy uses on SQLite."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def create_stage(self, table: str) -> None:
        self.conn.execute(text(f"CREATE TEMP TABLE stage_{table} AS SELECT * FROM {table} WHERE 0"))  # noqa: S608

    def stage(self, table: str, columns: tuple[str, ...], records: list[dict[str, Any]]) -> None:
        placeholders = ", ".join("?" for _ in columns)
        self.conn.execute(text(f"DELETE FROM stage_{table}"))  # noqa: S608
        self.cursor.executemany(
            f"INSERT INTO stage_{table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
            [tuple(self._value(c, r.get(c)) for c in columns) for r in records],
        )

    @staticmethod
    def _value(column: str, value: Any) -> Any:
        if value is None:
            return None
        if column in UUID_COLUMNS:
            return UUID(value).hex
        if column in JSON_COLUMNS:
            return _json_or_none(value)
        if column == "created_at":
            return datetime.fromisoformat(value).astimezone(UTC).strftime(SQLITE_TIME_FORMAT)
        return value


Target = PostgresTarget | SqliteTarget


def _check_usernames(conn: Connection) -> None:
    taken = conn.execute(
        text(
            "SELECT s.username FROM stage_users s JOIN users u ON u.username = s.username AND u.id <> s.id"
            " LIMIT 5"
        )
    ).scalars()
    names = list(taken)
    if names:
        raise SeedError(
            f"usernames already taken by other users in the database ({', '.join(names)}, ...):"
            " this is a different dataset; seed it with --reset or into another database"
        )


def _merge(conn: Connection, table: str, columns: tuple[str, ...]) -> int:
    listed = ", ".join(columns)
    statement = f"INSERT INTO {table} ({listed}) SELECT {listed} FROM stage_{table} WHERE true"  # noqa: S608
    result = conn.execute(text(f"{statement} ON CONFLICT DO NOTHING"))
    return max(result.rowcount, 0)


def load(conn: Connection, path: Path, totals: dict[str, int], batch_size: int) -> list[TableStats]:
    target: Target = PostgresTarget(conn) if conn.dialect.name == "postgresql" else SqliteTarget(conn)
    stats = {kind: TableStats(table) for kind, (table, _) in TABLES.items()}
    for table, _ in TABLES.values():
        target.create_stage(table)
    bars = {
        kind: tqdm(total=totals[kind], desc=table, unit="row", disable=None, leave=False)
        for kind, (table, _) in TABLES.items()
    }
    try:
        for kind, records in iter_batches(path, batch_size):
            if kind not in TABLES:
                continue
            table, columns = TABLES[kind]
            started = time.perf_counter()
            target.stage(table, columns, records)
            if kind == "user":
                _check_usernames(conn)
            stats[kind].inserted += _merge(conn, table, columns)
            stats[kind].read += len(records)
            stats[kind].seconds += time.perf_counter() - started
            bars[kind].update(len(records))
    finally:
        for bar in bars.values():
            bar.close()
    return list(stats.values())


def seed(
    input_path: Path, database_url: str, reset: bool = False, batch_size: int = 50_000
) -> list[TableStats]:
    """Validate, migrate and load; raises SeedError (nothing written) when the input is unusable."""
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
            totals = {kind: report.counts[kind] for kind in SECTION_KEYS}
            return load(conn, input_path, totals, batch_size)
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
    parser.add_argument("--batch-size", type=int, default=50_000)
    args = parser.parse_args(argv)
    if args.database_url is None:
        from app.infrastructure.config import Settings

        args.database_url = Settings().database_url
    started = time.perf_counter()
    try:
        stats = seed(args.input, args.database_url, reset=args.reset, batch_size=args.batch_size)
    except SeedError as error:
        print(f"seed failed: {error}", file=sys.stderr)
        return 1
    print(render_summary(stats, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
