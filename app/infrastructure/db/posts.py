"""Posts: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of `PostRepository`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import sqlite

from app.domain.entities import Post
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import DELETED, POSTS, RECOMMENDATIONS
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, chunks, existing, insert_new
from app.infrastructure.db.users import (
    CREATE_PLACEHOLDERS,
    RECORD_DELETED,
    create_placeholders,
    record_deleted,
)

_INSERT = (
    "INSERT INTO posts (id, author_id, content, topic, hashtags, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::varchar[], $5::jsonb[],"
    " $6::timestamptz[]) ON CONFLICT DO NOTHING RETURNING id"
)
_EXISTING = "SELECT id FROM posts WHERE id = ANY($1::uuid[])"
_IDS_BY_AUTHOR = "SELECT id FROM posts WHERE author_id = $1"
_UPSERT = (
    "WITH revived AS (DELETE FROM deleted_post WHERE post_id = ANY($1::uuid[]))"
    " INSERT INTO posts (id, author_id, content, topic, hashtags, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::varchar[], $5::jsonb[],"
    " $6::timestamptz[]) ON CONFLICT (id) DO UPDATE SET author_id = excluded.author_id,"
    " content = excluded.content, topic = excluded.topic, hashtags = excluded.hashtags,"
    " created_at = excluded.created_at RETURNING (xmax = 0)"
)
_DELETE = "DELETE FROM posts WHERE id = $1 RETURNING id"
_DELETE_FROM_LISTS = "DELETE FROM user_recommendation WHERE post_id = $1"
_DELETED = "SELECT post_id FROM deleted_post"
_FORGET = (
    "WITH gone AS (DELETE FROM deleted_post WHERE deleted_at < $1 RETURNING 1) SELECT count(*) FROM gone"
)
_CREATED_SINCE = (
    "SELECT id, author_id, content, topic, hashtags::text, created_at FROM posts"
    " WHERE created_at >= $1 ORDER BY created_at DESC, id LIMIT $2"
)


def _columns(posts: Sequence[Post]) -> tuple[list[Any], ...]:
    return (
        [p.id for p in posts],
        [p.author_id for p in posts],
        [p.content for p in posts],
        [p.topic for p in posts],
        [json.dumps(list(p.hashtags)) for p in posts],
        [p.created_at for p in posts],
    )


class PostgresPosts:
    """Reads on the feed's pool; catalogue writes on the writes pool."""

    def __init__(self, pool: PostgresPool, writes: PostgresPool) -> None:
        self._pool = pool
        self._writes = writes

    async def add_many(self, posts: Iterable[Post]) -> int:
        batch = list(posts)
        if not batch:
            return 0
        rows = await self._writes.fetch(_INSERT, *_columns(batch))
        return len(rows)

    async def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(set(post_ids))
        if not wanted:
            return set()
        return {row[0] for row in await self._pool.fetch(_EXISTING, wanted)}

    async def upsert_many(self, posts: Sequence[Post]) -> int:
        if not posts:
            return 0
        now = datetime.now(UTC)
        timeout = self._writes.statement_timeout
        async with self._writes.transaction() as conn:
            await conn.execute(CREATE_PLACEHOLDERS, list({p.author_id for p in posts}), now, timeout=timeout)
            rows = await conn.fetch(_UPSERT, *_columns(posts), timeout=timeout)
        return sum(1 for (new,) in rows if new)

    async def delete(self, post_id: UUID, now: datetime) -> bool:
        timeout = self._writes.statement_timeout
        async with self._writes.transaction() as conn:
            if not await conn.fetch(_DELETE, post_id, timeout=timeout):
                return False
            await conn.execute(_DELETE_FROM_LISTS, post_id, timeout=timeout)
            await conn.execute(RECORD_DELETED, [post_id], now, timeout=timeout)
            return True

    async def deleted_ids(self) -> set[UUID]:
        return {row[0] for row in await self._pool.fetch(_DELETED)}

    async def forget_deleted(self, before: datetime) -> int:
        ((forgotten,),) = await self._writes.fetch(_FORGET, before)
        return int(forgotten)

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return {row[0] for row in await self._pool.fetch(_IDS_BY_AUTHOR, author_id)}

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        rows = await self._pool.fetch(_CREATED_SINCE, since, limit)
        return [
            Post(id=i, author_id=a, content=c, topic=t, hashtags=tuple(json.loads(h or "[]")), created_at=at)
            for i, a, c, t, h, at in rows
        ]


_SQLITE_INSERT = sqlite.insert(POSTS)
_SQLITE_UPSERT = _SQLITE_INSERT.on_conflict_do_update(
    index_elements=["id"],
    set_={c: _SQLITE_INSERT.excluded[c] for c in ("author_id", "content", "topic", "hashtags", "created_at")},
)
_IDS_OF_AUTHOR = select(POSTS.c.id).where(POSTS.c.author_id == bindparam("author_id"))
_POSTS_CREATED_SINCE = (
    select(POSTS)
    .where(POSTS.c.created_at >= bindparam("since"))
    .order_by(POSTS.c.created_at.desc(), POSTS.c.id)
    .limit(bindparam("limit"))
)


class SqlitePosts:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_many(self, posts: Iterable[Post]) -> int:
        rows = [mappers.post_to_row(p) for p in posts]

        def insert(conn: Connection) -> int:
            return len(insert_new(conn, POSTS, rows))

        return await self._db.run(insert)

    async def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(post_ids)
        return await self._db.run(lambda conn: existing(conn, POSTS, wanted))

    async def upsert_many(self, posts: Sequence[Post]) -> int:
        rows = [mappers.post_to_row(p) for p in posts]
        now = datetime.now(UTC)

        def upsert(conn: Connection) -> int:
            create_placeholders(conn, {p.author_id for p in posts}, now)
            new = len(rows) - len(existing(conn, POSTS, (p.id for p in posts)))
            for chunk in chunks(rows):
                conn.execute(_SQLITE_UPSERT, list(chunk))
            for ids in chunks([p.id for p in posts]):
                conn.execute(delete(DELETED).where(DELETED.c.post_id.in_(ids)))
            return new

        return await self._db.run(upsert) if rows else 0

    async def delete(self, post_id: UUID, now: datetime) -> bool:
        def remove(conn: Connection) -> bool:
            if not conn.execute(delete(POSTS).where(POSTS.c.id == post_id)).rowcount:
                return False
            conn.execute(delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.post_id == post_id))
            record_deleted(conn, [post_id], now)
            return True

        return await self._db.run(remove)

    async def deleted_ids(self) -> set[UUID]:
        return await self._db.run(lambda conn: set(conn.scalars(select(DELETED.c.post_id))))

    async def forget_deleted(self, before: datetime) -> int:
        statement = delete(DELETED).where(DELETED.c.deleted_at < before)
        return await self._db.run(lambda conn: int(conn.execute(statement).rowcount or 0))

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return await self._db.run(lambda conn: set(conn.scalars(_IDS_OF_AUTHOR, {"author_id": author_id})))

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        def read(conn: Connection) -> list[Post]:
            rows = conn.execute(_POSTS_CREATED_SINCE, {"since": since, "limit": limit})
            return [mappers.post_from_row(r) for r in rows]

        return await self._db.run(read)
