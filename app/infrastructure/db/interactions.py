"""Interactions: PostgreSQL (asyncpg) and SQLite (SQLAlchemy Core) adapters of
`InteractionRepository`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, func, select, tuple_

from app.domain.entities import HistoryItem, Interaction, InteractionType, PostEngagement
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import INTERACTIONS, POSTS
from app.infrastructure.db.postgres import MissingReference, PostgresPool
from app.infrastructure.db.sqlite import SqliteDatabase, chunks, existing, insert_new
from app.infrastructure.db.users import CREATE_PLACEHOLDERS, create_placeholders

# A batch is seven array parameters ($1..$7, in the order of `_columns`), sent in binary to a
# statement prepared once per connection. Rows go in in the batch's order, so of two with one user
# and event id the first is stored and the second meets it as a conflict, skipped: a function scan
# feeding the insert has no other order.
_INSERT = (
    "INSERT INTO user_interaction (id, user_id, post_id, interaction_type, metadata, event_id, created_at)"
    " SELECT v.* FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::varchar[], $5::jsonb[],"
    " $6::varchar[], $7::timestamptz[]) AS v(id, user_id, post_id, interaction_type, metadata,"
    " event_id, created_at) ON CONFLICT DO NOTHING RETURNING id"
)
# The same, leaving out rows whose user or post does not exist instead of failing; the joins may
# reorder rows, so the batch's order is restored before they go in.
_INSERT_KNOWN = (
    "INSERT INTO user_interaction (id, user_id, post_id, interaction_type, metadata, event_id, created_at)"
    " SELECT v.id, v.user_id, v.post_id, v.interaction_type, v.metadata, v.event_id, v.created_at"
    " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::varchar[], $5::jsonb[], $6::varchar[],"
    " $7::timestamptz[]) WITH ORDINALITY AS v(id, user_id, post_id, interaction_type, metadata,"
    " event_id, created_at, n)"
    " WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = v.user_id)"
    " AND EXISTS (SELECT 1 FROM posts p WHERE p.id = v.post_id)"
    " ORDER BY v.n ON CONFLICT DO NOTHING RETURNING id"
)
_WITH_EVENT_IDS = (
    "SELECT i.id, i.user_id, i.post_id, i.interaction_type, i.metadata, i.event_id, i.created_at"
    " FROM unnest($1::uuid[], $2::varchar[]) AS k(user_id, event_id)"
    " JOIN user_interaction i ON i.user_id = k.user_id AND i.event_id = k.event_id"
    " WHERE i.event_id IS NOT NULL"
)
# Index-only: the (user_id, created_at) index carries post_id and interaction_type.
_HISTORY = (
    "SELECT post_id, interaction_type, created_at FROM user_interaction"
    " WHERE user_id = $1 ORDER BY created_at"
)
_SEEN = "SELECT DISTINCT post_id FROM user_interaction WHERE user_id = $1"
_ENGAGEMENT = (
    "SELECT i.post_id, p.author_id, p.created_at, i.interaction_type, count(*)"
    " FROM user_interaction i JOIN posts p ON p.id = i.post_id WHERE i.created_at >= $1"
    " GROUP BY i.post_id, p.author_id, p.created_at, i.interaction_type"
)


class PostgresInteractions:
    """Reads on the feed's pool; a tracked batch on a pool of its own, so a burst of batches
    never makes a feed page wait for a connection."""

    def __init__(self, reads: PostgresPool, writes: PostgresPool) -> None:
        self._reads = reads
        self._writes = writes

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        if not interactions:
            return set()
        columns = _columns(interactions)
        try:
            # Users and posts exist in nearly every batch, and the foreign keys check them anyway:
            # the statement that skips unknown ones (two more index lookups a row) runs only when
            # they fail the first.
            rows = await self._writes.fetch(_INSERT, *columns)
        except MissingReference:
            # A new account acts before the app syncs it: its user is created. An unknown post
            # stays unknown, and its items are left out.
            users = list({i.user_id for i in interactions})
            await self._writes.fetch(CREATE_PLACEHOLDERS, users, datetime.now(UTC))
            rows = await self._writes.fetch(_INSERT_KNOWN, *columns)
        stored: set[UUID] = {row[0] for row in rows}
        # The ids are ours, so a statement repeated after a lost connection stores nothing twice.
        return {i.id for i in interactions if i.id in stored}

    async def with_event_ids(self, keys: Iterable[tuple[UUID, str]]) -> list[Interaction]:
        pairs = list(keys)
        if not pairs:
            return []
        rows = await self._writes.fetch(_WITH_EVENT_IDS, [u for u, _ in pairs], [e for _, e in pairs])
        return [_interaction(row) for row in rows]

    async def history(self, user_id: UUID) -> list[HistoryItem]:
        rows = await self._reads.fetch(_HISTORY, user_id)
        return [HistoryItem(p, InteractionType(k), t) for p, k, t in rows]

    async def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        return {row[0] for row in await self._reads.fetch(_SEEN, user_id)}

    async def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        return _engagement(await self._reads.fetch(_ENGAGEMENT, since), weights)


def _columns(interactions: Sequence[Interaction]) -> tuple[list[Any], ...]:
    return (
        [i.id for i in interactions],
        [i.user_id for i in interactions],
        [i.post_id for i in interactions],
        [i.kind.value for i in interactions],
        [json.dumps(dict(i.metadata)) if i.metadata else None for i in interactions],
        [i.event_id for i in interactions],
        [i.created_at for i in interactions],
    )


def _interaction(row: Any) -> Interaction:
    id_, user_id, post_id, kind, metadata, event_id, created_at = row
    stored = json.loads(metadata) if metadata is not None else {}
    return Interaction(id_, user_id, post_id, InteractionType(kind), created_at, stored, event_id)


def _engagement(rows: Any, weights: dict[str, float]) -> list[PostEngagement]:
    totals: dict[UUID, list[Any]] = {}
    for post_id, author_id, created_at, kind, count in rows:
        entry = totals.setdefault(post_id, [author_id, mappers.aware(created_at), 0.0])
        entry[2] += weights.get(kind, 0.0) * count
    return [PostEngagement(pid, author, created, weight) for pid, (author, created, weight) in totals.items()]


_OF_USER = INTERACTIONS.c.user_id == bindparam("user_id")
_HISTORY_ITEMS = (
    select(INTERACTIONS.c.post_id, INTERACTIONS.c.interaction_type, INTERACTIONS.c.created_at)
    .where(_OF_USER)
    .order_by(INTERACTIONS.c.created_at)
)
_SEEN_POSTS = select(INTERACTIONS.c.post_id).where(_OF_USER).distinct()
_WITH_KEYS = select(INTERACTIONS).where(
    tuple_(INTERACTIONS.c.user_id, INTERACTIONS.c.event_id).in_(bindparam("keys", expanding=True))
)
_I, _P = INTERACTIONS.c, POSTS.c
_ENGAGEMENT_SINCE = (
    select(_I.post_id, _P.author_id, _P.created_at, _I.interaction_type, func.count())
    .join(POSTS, _P.id == _I.post_id)
    .where(_I.created_at >= bindparam("since"))
    .group_by(_I.post_id, _P.author_id, _P.created_at, _I.interaction_type)
)


class SqliteInteractions:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        if not interactions:
            return set()

        def insert(conn: Connection) -> set[UUID]:
            # Rows go in in order: of two with one user and event id, the second is skipped.
            posts = existing(conn, POSTS, (i.post_id for i in interactions))
            known = [i for i in interactions if i.post_id in posts]
            create_placeholders(conn, {i.user_id for i in known}, datetime.now(UTC))
            return insert_new(conn, INTERACTIONS, [mappers.interaction_to_row(i) for i in known])

        return await self._db.run(insert)

    async def with_event_ids(self, keys: Iterable[tuple[UUID, str]]) -> list[Interaction]:
        pairs = list(dict.fromkeys(keys))

        def read(conn: Connection) -> list[Interaction]:
            return [
                mappers.interaction_from_row(row)
                for chunk in chunks(pairs)
                for row in conn.execute(_WITH_KEYS, {"keys": list(chunk)})
            ]

        return await self._db.run(read) if pairs else []

    async def history(self, user_id: UUID) -> list[HistoryItem]:
        def read(conn: Connection) -> list[HistoryItem]:
            rows = conn.execute(_HISTORY_ITEMS, {"user_id": user_id})
            return [HistoryItem(p, InteractionType(k), mappers.aware(t)) for p, k, t in rows]

        return await self._db.run(read)

    async def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        return await self._db.run(lambda conn: set(conn.scalars(_SEEN_POSTS, {"user_id": user_id})))

    async def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        rows = await self._db.run(lambda conn: conn.execute(_ENGAGEMENT_SINCE, {"since": since}).all())
        return _engagement(rows, weights)
