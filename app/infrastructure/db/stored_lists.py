"""Stored lists: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of
`StoredListRepository`. A list is one row per post in `user_recommendation`, ranked by `rank`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import sqlite

from app.domain.entities import RankedPosts, StoredList
from app.domain.ports import ListCheck
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import DELETED, INTERACTIONS, RECOMMENDATIONS, USERS
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, chunks
from app.shared.ids import uuid7

# A list as one row of comma-joined strings: as 200 rows it cost milliseconds of Python.
_READ = (
    "SELECT string_agg(replace(post_id::text, '-', ''), ',' ORDER BY rank),"
    " string_agg(score::text, ',' ORDER BY rank), string_agg(reason, ',' ORDER BY rank),"
    " max(generated_at), min(expires_at)"
    " FROM user_recommendation WHERE user_id = $1 AND model_version = $2 AND expires_at > $3"
)
# Every post the user has seen as one string of hex ids, read from the index alone (asking about
# the list's posts instead, `post_id = ANY(array)`, cost PostgreSQL eight times as much planning
# the array); the stored list's generated_at (every row of a list carries it); the posts deleted
# lately (a small table); and whether the user exists.
_CHECK = (
    "SELECT (SELECT string_agg(replace(post_id::text, '-', ''), ',') FROM user_interaction"
    " WHERE user_id = $1),"
    " (SELECT generated_at FROM user_recommendation"
    " WHERE user_id = $1 AND model_version = $2 AND expires_at > $3 LIMIT 1),"
    " (SELECT string_agg(replace(post_id::text, '-', ''), ',') FROM deleted_post),"
    " EXISTS (SELECT 1 FROM users WHERE id = $1)"
)
# A user's list replaced by one statement: rows no longer listed are deleted, the listed ones
# upserted with their rank.
_REPLACE = (
    "WITH stale AS (DELETE FROM user_recommendation WHERE user_id = $1 AND post_id <> ALL($2::uuid[]))"
    " INSERT INTO user_recommendation"
    " (id, user_id, post_id, score, reason, model_version, rank, generated_at, expires_at)"
    " SELECT v.id, $1, v.post_id, v.score, v.reason, $6, v.position - 1, $7, $8"
    " FROM unnest($3::uuid[], $2::uuid[], $4::float8[], $5::varchar[])"
    " WITH ORDINALITY AS v(id, post_id, score, reason, position)"
    " ON CONFLICT (user_id, post_id) DO UPDATE SET score = excluded.score, reason = excluded.reason,"
    " model_version = excluded.model_version, rank = excluded.rank,"
    " generated_at = excluded.generated_at, expires_at = excluded.expires_at"
)

# In batches (the last parameter): a backlog deleted at once could outlast the statement timeout.
_DELETE_EXPIRED = (
    "WITH gone AS (DELETE FROM user_recommendation WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM user_recommendation WHERE expires_at <= $1 LIMIT $2)) RETURNING 1)"
    " SELECT count(*) FROM gone"
)


def hex_ids(joined: str | None) -> set[UUID]:
    return {UUID(h) for h in joined.split(",")} if joined else set()


def seen_in_hex(joined: str | None, listed: RankedPosts) -> set[UUID]:
    """The posts of `listed` whose ids are in `joined`, a comma-joined string of hex ids."""
    if not joined:
        return set()
    seen = {int(h, 16) for h in joined.split(",")}
    return {UUID(int=i) for i in listed.ids if i in seen}


class PostgresStoredLists:
    """Reads on the feed's pool; lists are stored on the writes pool, off the request path."""

    def __init__(self, reads: PostgresPool, writes: PostgresPool) -> None:
        self._reads = reads
        self._writes = writes

    async def read(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        ((post_ids, scores, reasons, generated_at, expires_at),) = await self._reads.fetch(
            _READ, user_id, model_version, now
        )
        if post_ids is None:
            return None
        items = mappers.ranked_from_joined(post_ids, scores, reasons)
        return StoredList(user_id, model_version, generated_at, expires_at, items)

    async def check(self, user_id: UUID, model_version: str, now: datetime, listed: RankedPosts) -> ListCheck:
        ((seen_hex, generated_at, gone_hex, user_known),) = await self._reads.fetch(
            _CHECK, user_id, model_version, now
        )
        return ListCheck(seen_in_hex(seen_hex, listed), generated_at, hex_ids(gone_hex), user_known)

    async def store(self, lists: Sequence[StoredList]) -> None:
        if not lists:
            return
        rows = [
            (
                s.user_id,
                s.items.post_ids(),
                [uuid7() for _ in s.items.ids],
                list(s.items.scores),
                [r.value for r in s.items.reasons],
                s.model_version,
                s.generated_at,
                s.expires_at,
            )
            for s in lists
        ]
        async with self._writes.transaction() as conn:
            # A cache: the commit need not wait for the disk.
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            await conn.executemany(_REPLACE, rows, timeout=self._writes.statement_timeout)

    async def delete_expired(self, now: datetime) -> int:
        return await self._writes.delete_in_batches(_DELETE_EXPIRED, now)


_OF_LIST = (
    RECOMMENDATIONS.c.user_id == bindparam("user_id"),
    RECOMMENDATIONS.c.model_version == bindparam("model_version"),
    RECOMMENDATIONS.c.expires_at > bindparam("now"),
)
_LIST_ROWS = (
    select(
        RECOMMENDATIONS.c.post_id,
        RECOMMENDATIONS.c.score,
        RECOMMENDATIONS.c.reason,
        RECOMMENDATIONS.c.generated_at,
        RECOMMENDATIONS.c.expires_at,
    )
    .where(*_OF_LIST)
    .order_by(RECOMMENDATIONS.c.rank)
)
_GENERATED_AT = select(RECOMMENDATIONS.c.generated_at).where(*_OF_LIST).limit(1)
_SEEN_AMONG = select(INTERACTIONS.c.post_id).where(
    INTERACTIONS.c.user_id == bindparam("user_id"),
    INTERACTIONS.c.post_id.in_(bindparam("post_ids", expanding=True)),
)
_DELETED = select(DELETED.c.post_id)
_USER_KNOWN = select(USERS.c.id).where(USERS.c.id == bindparam("user_id"))
_COLUMNS = ("score", "reason", "model_version", "rank", "generated_at", "expires_at")
_INSERT = sqlite.insert(RECOMMENDATIONS)
_UPSERT = _INSERT.on_conflict_do_update(
    index_elements=["user_id", "post_id"], set_={c: _INSERT.excluded[c] for c in _COLUMNS}
)


class SqliteStoredLists:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def read(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        params = {"user_id": user_id, "model_version": model_version, "now": now}
        rows = await self._db.run(lambda conn: conn.execute(_LIST_ROWS, params).all())
        if not rows:
            return None
        return StoredList(
            user_id=user_id,
            model_version=model_version,
            generated_at=mappers.aware(max(r[3] for r in rows)),
            expires_at=mappers.aware(min(r[4] for r in rows)),
            items=mappers.ranked_from_columns(
                (r[0].int for r in rows), (r[1] for r in rows), (r[2] for r in rows)
            ),
        )

    async def check(self, user_id: UUID, model_version: str, now: datetime, listed: RankedPosts) -> ListCheck:
        def read(conn: Connection) -> ListCheck:
            seen: set[UUID] = set()
            for chunk in chunks(listed.post_ids()):
                seen.update(conn.scalars(_SEEN_AMONG, {"user_id": user_id, "post_ids": list(chunk)}))
            params = {"user_id": user_id, "model_version": model_version, "now": now}
            generated_at = conn.execute(_GENERATED_AT, params).scalar()
            gone = set(conn.scalars(_DELETED))
            user_known = conn.execute(_USER_KNOWN, {"user_id": user_id}).first() is not None
            return ListCheck(
                seen, None if generated_at is None else mappers.aware(generated_at), gone, user_known
            )

        return await self._db.run(read)

    async def store(self, lists: Sequence[StoredList]) -> None:
        if lists:
            await self._db.run(lambda conn: _replace(conn, lists))

    async def delete_expired(self, now: datetime) -> int:
        statement = delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.expires_at <= now)
        return await self._db.run(lambda conn: int(conn.execute(statement).rowcount or 0))


def _replace(conn: Connection, lists: Sequence[StoredList]) -> None:
    for stored in lists:
        keep = stored.items.post_ids()
        stale = delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.user_id == stored.user_id)
        if keep:
            stale = stale.where(RECOMMENDATIONS.c.post_id.not_in(keep))
        conn.execute(stale)
        rows: list[dict[str, Any]] = [
            {
                "id": uuid7(),
                "user_id": stored.user_id,
                "post_id": post_id,
                "score": score,
                "reason": reason.value,
                "model_version": stored.model_version,
                "rank": rank,
                "generated_at": stored.generated_at,
                "expires_at": stored.expires_at,
            }
            for rank, (post_id, score, reason) in enumerate(
                zip(keep, stored.items.scores, stored.items.reasons, strict=True)
            )
        ]
        for chunk in chunks(rows):
            conn.execute(_UPSERT, list(chunk))
