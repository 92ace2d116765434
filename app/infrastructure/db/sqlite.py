"""How the service reaches the embedded SQLite database: SQLAlchemy Core in a worker thread.

SQLite has no network to wait on, and its driver blocks: each repository call runs its
statements in one transaction on a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from anyio import to_thread
from sqlalchemy import Connection, Engine, Table, bindparam, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite

from app.shared.exceptions import Conflict, InvalidInput, StorageUnavailable

T = TypeVar("T")
# Bound parameters per statement stay well under SQLite's limit.
CHUNK = 500


def translate(error: sa_exc.SQLAlchemyError) -> Exception:
    """Driver errors become our own types at the boundary, so callers catch one thing."""
    # IntegrityError and DataError are the client's data (a broken reference, a value the
    # database cannot store); everything else means the database is not serving.
    if isinstance(error, sa_exc.IntegrityError) and "UNIQUE" in str(error.orig):
        return Conflict(f"the database refused the data: {str(error.orig).strip()}")
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return InvalidInput(f"the database refused the data: {str(error.orig).strip()}")
    return StorageUnavailable(f"database unavailable: {type(error).__name__}: {str(error).splitlines()[0]}")


class SqliteDatabase:
    """Runs a function of a connection in a worker thread, inside one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` committed on return, rolled back on error; SQLAlchemy's errors become
        InvalidInput or StorageUnavailable."""
        return await to_thread.run_sync(self.run_now, work)

    def run_now(self, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.begin() as conn:
                return work(conn)
        except sa_exc.SQLAlchemyError as error:
            raise translate(error) from error


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@cache
def _insert_returning_ids(table: Table) -> Any:
    return sqlite.insert(table).on_conflict_do_nothing().returning(table.c.id)


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[UUID]:
    """The ids of the rows inserted; rows that conflict with a unique key are skipped."""
    inserted: set[UUID] = set()
    for chunk in chunks(rows):
        inserted.update(conn.scalars(_insert_returning_ids(table), list(chunk)))
    return inserted


@cache
def _ids_in(table: Table) -> Any:
    return select(table.c.id).where(table.c.id.in_(bindparam("ids", expanding=True)))


def existing(conn: Connection, table: Table, ids: Iterable[UUID]) -> set[UUID]:
    """The ids among `ids` that `table` holds."""
    found: set[UUID] = set()
    for chunk in chunks(list(dict.fromkeys(ids))):
        found.update(conn.scalars(_ids_in(table), {"ids": list(chunk)}))
    return found
