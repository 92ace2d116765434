"""Served lists: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of
`ServedListRepository`. A list is one row; its posts, scores and reasons are comma-joined."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.dialects import sqlite

from app.domain.entities import ServedList
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import SERVED
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase

_GET = (
    "SELECT user_id, model_version, source, expires_at, post_ids, scores, reasons FROM served_list"
    " WHERE id = $1 AND expires_at > $2"
)
_SAVE = (
    "INSERT INTO served_list"
    " (id, user_id, model_version, source, created_at, expires_at, post_ids, scores, reasons)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(served_list.expires_at, excluded.expires_at)"
)

# In batches (the last parameter): a backlog deleted at once could outlast the statement timeout.
_DELETE_EXPIRED = (
    "WITH gone AS (DELETE FROM served_list WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM served_list WHERE expires_at <= $1 LIMIT $2)) RETURNING 1)"
    " SELECT count(*) FROM gone"
)


def _row(served: ServedList, now: datetime) -> tuple[Any, ...]:
    items = served.items
    return (
        served.id,
        served.user_id,
        served.model_version,
        served.source,
        now,
        served.expires_at,
        ",".join(f"{i:032x}" for i in items.ids),
        ",".join(map(repr, items.scores)),
        ",".join(items.reasons),
    )


def _list(list_id: UUID, row: Any) -> ServedList:
    user_id, version, source, expires_at, post_ids, scores, reasons = row
    items = mappers.ranked_from_joined(post_ids, scores, reasons)
    return ServedList(list_id, user_id, version, source, mappers.aware(expires_at), items)


class PostgresServedLists:
    """Read on the feed's pool; written in the background on the writes pool."""

    def __init__(self, reads: PostgresPool, writes: PostgresPool) -> None:
        self._reads = reads
        self._writes = writes

    async def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        rows = await self._reads.fetch(_GET, list_id, now)
        return _list(list_id, rows[0]) if rows else None

    async def save(self, lists: Sequence[ServedList]) -> None:
        if not lists:
            return
        now = datetime.now(UTC)  # created_at is for people; expires_at decides
        async with self._writes.transaction() as conn:
            await conn.execute("SET LOCAL synchronous_commit TO OFF")  # lost on a crash: cursors restart
            await conn.executemany(
                _SAVE, [_row(s, now) for s in lists], timeout=self._writes.statement_timeout
            )

    async def delete_expired(self, now: datetime) -> int:
        return await self._writes.delete_in_batches(_DELETE_EXPIRED, now)


_GET_ROW = select(
    SERVED.c.user_id,
    SERVED.c.model_version,
    SERVED.c.source,
    SERVED.c.expires_at,
    SERVED.c.post_ids,
    SERVED.c.scores,
    SERVED.c.reasons,
).where(SERVED.c.id == bindparam("id"), SERVED.c.expires_at > bindparam("now"))
_INSERT = sqlite.insert(SERVED)
_UPSERT = _INSERT.on_conflict_do_update(
    index_elements=["id"], set_={"expires_at": func.max(SERVED.c.expires_at, _INSERT.excluded.expires_at)}
)
_COLUMNS = (
    "id",
    "user_id",
    "model_version",
    "source",
    "created_at",
    "expires_at",
    "post_ids",
    "scores",
    "reasons",
)


class SqliteServedLists:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, list_id: UUID, now: datetime) -> ServedList | None:
        row = await self._db.run(lambda conn: conn.execute(_GET_ROW, {"id": list_id, "now": now}).first())
        return _list(list_id, row) if row is not None else None

    async def save(self, lists: Sequence[ServedList]) -> None:
        if not lists:
            return
        now = datetime.now(UTC)
        rows = [dict(zip(_COLUMNS, _row(s, now), strict=True)) for s in lists]

        def upsert(conn: Connection) -> None:
            conn.execute(_UPSERT, rows)

        await self._db.run(upsert)

    async def delete_expired(self, now: datetime) -> int:
        statement = delete(SERVED).where(SERVED.c.expires_at <= now)
        return await self._db.run(lambda conn: int(conn.execute(statement).rowcount or 0))
