"""Users: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of `UserRepository`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import sqlite

from app.domain.entities import User
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import DELETED, POSTS, RECOMMENDATIONS, SERVED, USERS
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, chunks, existing, insert_new

_INSERT = (
    "INSERT INTO users (id, username, display_name, follower_count, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::int[], $5::timestamptz[])"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_EXISTING = "SELECT id FROM users WHERE id = ANY($1::uuid[])"
# $1 user ids, $2 now: users the service learned of before the app synced them.
CREATE_PLACEHOLDERS = (
    "INSERT INTO users (id, username, display_name, follower_count, created_at)"
    " SELECT u, 'user-' || replace(u::text, '-', ''), '', 0, $2 FROM unnest($1::uuid[]) AS u"
    " ON CONFLICT DO NOTHING"
)
_UPSERT = (
    "INSERT INTO users (id, username, display_name, follower_count, created_at)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET username = excluded.username,"
    " display_name = excluded.display_name, follower_count = excluded.follower_count,"
    " created_at = excluded.created_at RETURNING (xmax = 0)"
)
# Erasure, in one transaction: the user's posts (recorded as deleted, so lists in use drop them),
# every stored and served list of theirs or holding their posts, then the user (interactions go
# with the user and the posts, by ON DELETE CASCADE).
_DELETE_POSTS_OF = "DELETE FROM posts WHERE author_id = $1 RETURNING id"
RECORD_DELETED = (
    "INSERT INTO deleted_post (post_id, deleted_at) SELECT p, $2 FROM unnest($1::uuid[]) AS p"
    " ON CONFLICT (post_id) DO UPDATE SET deleted_at = excluded.deleted_at"
)
_DELETE_LISTS_OF = "DELETE FROM user_recommendation WHERE user_id = $1 OR post_id = ANY($2::uuid[])"
_DELETE_SERVED_OF = "DELETE FROM served_list WHERE user_id = $1"
_DELETE_USER = "DELETE FROM users WHERE id = $1 RETURNING id"


class PostgresUsers:
    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool

    async def add_many(self, users: Iterable[User]) -> int:
        batch = list(users)
        if not batch:
            return 0
        rows = await self._pool.fetch(
            _INSERT,
            [u.id for u in batch],
            [u.username for u in batch],
            [u.display_name for u in batch],
            [u.follower_count for u in batch],
            [u.created_at for u in batch],
        )
        return len(rows)

    async def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(set(user_ids))
        if not wanted:
            return set()
        return {row[0] for row in await self._pool.fetch(_EXISTING, wanted)}

    async def upsert(self, user: User) -> bool:
        ((new,),) = await self._pool.fetch(
            _UPSERT, user.id, user.username, user.display_name, user.follower_count, user.created_at
        )
        return bool(new)

    async def erase(self, user_id: UUID, now: datetime) -> bool:
        timeout = self._pool.statement_timeout
        async with self._pool.transaction() as conn:
            posts = [row[0] for row in await conn.fetch(_DELETE_POSTS_OF, user_id, timeout=timeout)]
            await conn.execute(RECORD_DELETED, posts, now, timeout=timeout)
            await conn.execute(_DELETE_LISTS_OF, user_id, posts, timeout=timeout)
            await conn.execute(_DELETE_SERVED_OF, user_id, timeout=timeout)
            return bool(await conn.fetch(_DELETE_USER, user_id, timeout=timeout))


class SqliteUsers:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_many(self, users: Iterable[User]) -> int:
        rows = [mappers.user_to_row(u) for u in users]

        def insert(conn: Connection) -> int:
            return len(insert_new(conn, USERS, rows))

        return await self._db.run(insert)

    async def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(user_ids)
        return await self._db.run(lambda conn: existing(conn, USERS, wanted))

    async def upsert(self, user: User) -> bool:
        row = mappers.user_to_row(user)

        def upsert(conn: Connection) -> bool:
            new = not existing(conn, USERS, [user.id])
            conn.execute(_SQLITE_UPSERT, row)
            return new

        return await self._db.run(upsert)

    async def erase(self, user_id: UUID, now: datetime) -> bool:
        def erase(conn: Connection) -> bool:
            posts = list(conn.scalars(select(POSTS.c.id).where(POSTS.c.author_id == user_id)))
            conn.execute(delete(POSTS).where(POSTS.c.author_id == user_id))
            record_deleted(conn, posts, now)
            lists = delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.user_id == user_id)
            conn.execute(lists)
            for chunk in chunks(posts):
                conn.execute(delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.post_id.in_(chunk)))
            conn.execute(delete(SERVED).where(SERVED.c.user_id == user_id))
            return bool(conn.execute(delete(USERS).where(USERS.c.id == user_id)).rowcount)

        return await self._db.run(erase)


_SQLITE_INSERT = sqlite.insert(USERS)
_SQLITE_UPSERT = _SQLITE_INSERT.on_conflict_do_update(
    index_elements=["id"],
    set_={
        c: _SQLITE_INSERT.excluded[c] for c in ("username", "display_name", "follower_count", "created_at")
    },
)


def create_placeholders(conn: Connection, user_ids: Iterable[UUID], now: datetime) -> None:
    """SQLite: users the service learned of before the app synced them."""
    missing = set(user_ids) - existing(conn, USERS, user_ids)
    rows = [
        {
            "id": u,
            "username": placeholder_username(u),
            "display_name": "",
            "follower_count": 0,
            "created_at": now,
        }
        for u in missing
    ]
    insert_new(conn, USERS, rows)


def record_deleted(conn: Connection, post_ids: Sequence[UUID], now: datetime) -> None:
    """SQLite: deleted posts, left out of every list still in use."""
    if post_ids:
        insert = sqlite.insert(DELETED)
        upsert = insert.on_conflict_do_update(index_elements=["post_id"], set_={"deleted_at": now})
        conn.execute(upsert, [{"post_id": p, "deleted_at": now} for p in post_ids])


def placeholder_username(user_id: UUID) -> str:
    """The username of a user the service learned of before the app synced it (by a tracked
    interaction or a post's author): unique, and replaced by the app's own on `PUT /users/{id}`."""
    return f"user-{user_id.hex}"
