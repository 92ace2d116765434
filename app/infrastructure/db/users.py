"""Users: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of `UserRepository`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast
from uuid import UUID

from sqlalchemy import Connection, Table

from app.domain.entities import User
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import UserRow
from app.infrastructure.db.postgres import PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, existing, insert_new

USERS = cast(Table, UserRow.__table__)

_INSERT = (
    "INSERT INTO users (id, username, display_name, follower_count, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::int[], $5::timestamptz[])"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_EXISTING = "SELECT id FROM users WHERE id = ANY($1::uuid[])"


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
