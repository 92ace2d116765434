"""Where the seeder writes: stage a batch, then merge it with INSERT ... ON CONFLICT DO NOTHING.

SQL here is built only from the seeder's constant table and column names, never from the input file.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, text

# Above this many rows, PostgreSQL indexes and foreign keys are rebuilt once instead of row by row.
BULK_ROWS = 100_000
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite
UUID_COLUMNS = {"id", "user_id", "post_id", "author_id"}
CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")  # null → unquoted empty


class SeedError(Exception):
    """The seed cannot proceed; the message says what to do."""


def check_usernames(conn: Connection, stage: str) -> None:
    query = f"SELECT s.username FROM {stage} s JOIN users u ON u.username = s.username"  # noqa: S608
    taken = conn.execute(text(f"{query} AND u.id <> s.id LIMIT 5")).scalars()
    names = list(taken)
    if names:
        raise SeedError(
            f"usernames already taken by other users in the database ({', '.join(names)}, ...):"
            " this is a different dataset; seed it with --reset or into another database"
        )


def merge(conn: Connection, table: str, stage: str, columns: list[str]) -> int:
    listed = ", ".join(columns)
    statement = f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {stage} WHERE true"  # noqa: S608
    return max(conn.execute(text(f"{statement} ON CONFLICT DO NOTHING")).rowcount, 0)


class PostgresTarget:
    """COPY (CSV) straight into an empty table, else into a temporary staging table and merge.

    For a large load the table's non-unique-constraint indexes and foreign keys are dropped and
    recreated from their own definitions at the end: in the same transaction, so nothing is lost.
    """

    def __init__(self, conn: Connection, bulk_rows: int = BULK_ROWS) -> None:
        self.conn = conn
        self.bulk_rows = bulk_rows
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self.direct: dict[str, bool] = {}
        self.restore: list[str] = []

    def begin(self, table: str, expected_rows: int) -> None:
        self.direct[table] = not self.conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar()  # noqa: S608
        if not self.direct[table]:
            self.conn.execute(text(f"CREATE TEMP TABLE stage_{table} (LIKE {table}) ON COMMIT DROP"))
        if expected_rows >= self.bulk_rows:
            self._suspend(table)

    def write(self, table: str, rows: pa.Table) -> int:
        target = table if self.direct[table] else f"stage_{table}"
        buffer = io.BytesIO()
        pa_csv.write_csv(rows, buffer, CSV_OPTIONS)
        buffer.seek(0)
        columns = ", ".join(rows.column_names)
        self.cursor.copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        if self.direct[table]:
            return int(rows.num_rows)
        if table == "users":
            check_usernames(self.conn, target)
        inserted = merge(self.conn, table, target, rows.column_names)
        self.conn.execute(text(f"TRUNCATE {target}"))
        return inserted

    def finish(self) -> None:
        for statement in self.restore:
            self.conn.execute(text(statement))
        # Fresh planner statistics: without them the service's first queries plan blind
        # (sequential scans for id lookups) until autovacuum gets round to the tables.
        for table in self.direct:
            self.conn.execute(text(f"ANALYZE {table}"))

    def _suspend(self, table: str) -> None:
        indexes = self.conn.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid = CAST(:t AS regclass) AND NOT indisprimary"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = indexrelid)"
            ),
            {"t": table},
        ).all()
        keys = self.conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
            ),
            {"t": table},
        ).all()
        for name, _ in keys:
            self.conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        for name, _ in indexes:
            self.conn.execute(text(f"DROP INDEX {name}"))
        self.restore += [definition for _, definition in indexes]
        self.restore += [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in keys
        ]


class SqliteTarget:
    """executemany into a temporary staging table, values in the formats SQLAlchemy uses on SQLite."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def begin(self, table: str, expected_rows: int) -> None:
        self.conn.execute(text(f"CREATE TEMP TABLE stage_{table} AS SELECT * FROM {table} WHERE 0"))  # noqa: S608

    def write(self, table: str, rows: pa.Table) -> int:
        stage, columns = f"stage_{table}", rows.column_names
        self.conn.execute(text(f"DELETE FROM {stage}"))  # noqa: S608
        self.cursor.executemany(
            f"INSERT INTO {stage} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",  # noqa: S608
            [tuple(_sqlite_value(c, row[c]) for c in columns) for row in rows.to_pylist()],
        )
        if table == "users":
            check_usernames(self.conn, stage)
        return merge(self.conn, table, stage, columns)

    def finish(self) -> None:
        self.conn.execute(text("ANALYZE"))  # the query planner's statistics (sqlite_stat1)


def _sqlite_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in UUID_COLUMNS:
        return UUID(value).hex
    if column == "created_at":
        return datetime.fromisoformat(value).astimezone(UTC).strftime(SQLITE_TIME_FORMAT)
    return value
