"""Posts: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of `PostRepository`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import cast
from uuid import UUID

from sqlalchemy import Connection, Table, bindparam, select

from app.domain.entities import Post
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import PostRow
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, existing, insert_new

POSTS = cast(Table, PostRow.__table__)

_INSERT = (
    "INSERT INTO posts (id, author_id, content, topic, hashtags, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::varchar[], $5::jsonb[],"
    " $6::timestamptz[]) ON CONFLICT DO NOTHING RETURNING id"
)
_EXISTING = "SELECT id FROM posts WHERE id = ANY($1::uuid[])"
_IDS_BY_AUTHOR = "SELECT id FROM posts WHERE author_id = $1"
_CREATED_SINCE = (
    "SELECT id, author_id, content, topic, hashtags::text, created_at FROM posts"
    " WHERE created_at >= $1 ORDER BY created_at DESC, id LIMIT $2"
)


class PostgresPosts:
    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool

    async def add_many(self, posts: Iterable[Post]) -> int:
        batch = list(posts)
        if not batch:
            return 0
        rows = await self._pool.fetch(
            _INSERT,
            [p.id for p in batch],
            [p.author_id for p in batch],
            [p.content for p in batch],
            [p.topic for p in batch],
            [json.dumps(list(p.hashtags)) for p in batch],
            [p.created_at for p in batch],
        )
        return len(rows)

    async def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(set(post_ids))
        if not wanted:
            return set()
        return {row[0] for row in await self._pool.fetch(_EXISTING, wanted)}

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return {row[0] for row in await self._pool.fetch(_IDS_BY_AUTHOR, author_id)}

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        rows = await self._pool.fetch(_CREATED_SINCE, since, limit)
        return [
            Post(id=i, author_id=a, content=c, topic=t, hashtags=tuple(json.loads(h or "[]")), created_at=at)
            for i, a, c, t, h, at in rows
        ]


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

    async def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return await self._db.run(lambda conn: set(conn.scalars(_IDS_OF_AUTHOR, {"author_id": author_id})))

    async def created_since(self, since: datetime, limit: int) -> list[Post]:
        def read(conn: Connection) -> list[Post]:
            rows = conn.execute(_POSTS_CREATED_SINCE, {"since": since, "limit": limit})
            return [mappers.post_from_row(r) for r in rows]

        return await self._db.run(read)
