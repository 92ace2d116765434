"""SQLAlchemy Core adapters of the repository ports. They add and query; the unit of work commits.

The statements a request runs are built once, at import, with bound parameters: building and
cache-keying an ORM statement per call cost more than PostgreSQL took to plan and run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Connection, Table, Uuid, any_, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.domain.entities import (
    HistoryItem,
    Interaction,
    InteractionType,
    Post,
    PostEngagement,
    Recommendation,
    StoredList,
    User,
)
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import InteractionRow, PostRow, RecommendationRow, UserRow
from app.shared.ids import uuid7

# Keeps bound parameters per statement under SQLite's and psycopg2's comfortable limits.
CHUNK = 500

USERS = cast(Table, UserRow.__table__)
POSTS = cast(Table, PostRow.__table__)
INTERACTIONS = cast(Table, InteractionRow.__table__)
RECOMMENDATIONS = cast(Table, RecommendationRow.__table__)


def _insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the dialect's ON CONFLICT support (PostgreSQL and SQLite share the syntax)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@cache
def _insert_returning_ids(dialect: str, table: Table) -> Any:
    return _insert(dialect, table).on_conflict_do_nothing().returning(table.c.id)


def _insert_ignoring_conflicts(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[UUID]:
    """The ids of the rows inserted; rows that conflict with a unique key are skipped."""
    stmt = _insert_returning_ids(conn.dialect.name, table)
    inserted: set[UUID] = set()
    for chunk in _chunks(rows):
        inserted.update(conn.scalars(stmt, list(chunk)))
    return inserted


def _ids_in(table: Table) -> Any:
    return select(table.c.id).where(table.c.id.in_(bindparam("ids", expanding=True)))


def _ids_in_array(table: Table) -> Any:
    """PostgreSQL: one array parameter instead of a rendered list of hundreds."""
    return select(table.c.id).where(table.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(Uuid))))


_IDS_IN = {"users": _ids_in(USERS), "posts": _ids_in(POSTS)}
_IDS_IN_ARRAY = {"users": _ids_in_array(USERS), "posts": _ids_in_array(POSTS)}


def _existing(conn: Connection, table: Table, ids: Iterable[UUID]) -> set[UUID]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return set()
    if conn.dialect.name == "postgresql":
        return set(conn.scalars(_IDS_IN_ARRAY[table.name], {"ids": wanted}))
    found: set[UUID] = set()
    for chunk in _chunks(wanted):
        found.update(conn.scalars(_IDS_IN[table.name], {"ids": list(chunk)}))
    return found


_USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("id"))
# For asyncpg (event_loop.py): which of $1 (user ids) and $2 (post ids) exist, in one round trip.
EXISTING_IDS_SQL = (
    "SELECT 'user', id FROM users WHERE id = ANY($1::uuid[])"
    " UNION ALL SELECT 'post', id FROM posts WHERE id = ANY($2::uuid[])"
)


class SqlAlchemyUserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, users: Iterable[User]) -> int:
        return len(_insert_ignoring_conflicts(self._conn, USERS, [mappers.user_to_row(u) for u in users]))

    def get(self, user_id: UUID) -> User | None:
        row = self._conn.execute(_USER_BY_ID, {"id": user_id}).first()
        return mappers.user_from_row(row) if row else None

    def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        return _existing(self._conn, USERS, user_ids)


_POSTS_IN = select(POSTS).where(POSTS.c.id.in_(bindparam("ids", expanding=True)))
_POST_IDS_BY_AUTHOR = select(POSTS.c.id).where(POSTS.c.author_id == bindparam("author_id"))
_POSTS_CREATED_SINCE = (
    select(POSTS)
    .where(POSTS.c.created_at >= bindparam("since"))
    .order_by(POSTS.c.created_at.desc(), POSTS.c.id)
    .limit(bindparam("limit"))
)


class SqlAlchemyPostRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, posts: Iterable[Post]) -> int:
        return len(_insert_ignoring_conflicts(self._conn, POSTS, [mappers.post_to_row(p) for p in posts]))

    def get_many(self, post_ids: Iterable[UUID]) -> list[Post]:
        wanted = list(dict.fromkeys(post_ids))
        posts: list[Post] = []
        for chunk in _chunks(wanted):
            rows = self._conn.execute(_POSTS_IN, {"ids": list(chunk)})
            posts.extend(mappers.post_from_row(r) for r in rows)
        return posts

    def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        return _existing(self._conn, POSTS, post_ids)

    def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return set(self._conn.scalars(_POST_IDS_BY_AUTHOR, {"author_id": author_id}))

    def created_since(self, since: datetime, limit: int) -> list[Post]:
        rows = self._conn.execute(_POSTS_CREATED_SINCE, {"since": since, "limit": limit})
        return [mappers.post_from_row(r) for r in rows]


_OF_USER = INTERACTIONS.c.user_id == bindparam("user_id")
_HISTORY = select(INTERACTIONS).where(_OF_USER).order_by(INTERACTIONS.c.created_at, INTERACTIONS.c.id)
_HISTORY_SINCE = _HISTORY.where(INTERACTIONS.c.created_at >= bindparam("since"))
_SEEN = select(INTERACTIONS.c.post_id).where(_OF_USER)
# Index-only on PostgreSQL: the (user_id, created_at) index carries post_id and interaction_type.
_HISTORY_ITEMS = (
    select(INTERACTIONS.c.post_id, INTERACTIONS.c.interaction_type, INTERACTIONS.c.created_at)
    .where(_OF_USER)
    .order_by(INTERACTIONS.c.created_at)
)
_SEEN_AMONG = _SEEN.where(INTERACTIONS.c.post_id.in_(bindparam("post_ids", expanding=True)))
# PostgreSQL: every seen post in one string of hex ids, read from the index alone. Asking about
# the candidates instead (`post_id = ANY(array)`) cost PostgreSQL 0.8 ms a request, planning the
# array; this costs 0.1 ms, and Python compares numbers without a row or a UUID per seen post.
# The placeholder is the driver's: `:user_id` here, `$1` for asyncpg (KEPT_LIST_STATE_SQL).
_SEEN_HEX_SQL = (
    "SELECT string_agg(replace(post_id::text, '-', ''), ',') FROM user_interaction WHERE user_id = {}"
)
_SEEN_HEX = text(_SEEN_HEX_SQL.format(":user_id"))


def seen_in_hex(joined: str | None, post_ids: Sequence[UUID]) -> set[UUID]:
    """The posts among `post_ids` whose ids are in `joined`, the string the seen-hex query returns."""
    if not joined:
        return set()
    seen = {int(h, 16) for h in joined.split(",")}
    return {p for p in post_ids if p.int in seen}


class SqlAlchemyInteractionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, interactions: Sequence[Interaction]) -> set[UUID]:
        kept = first_per_event_id(interactions)
        if not kept:
            return set()
        if self._conn.dialect.name == "postgresql":
            return _insert_known_from_arrays(self._conn, kept)
        users = _existing(self._conn, USERS, (i.user_id for i in kept))
        posts = _existing(self._conn, POSTS, (i.post_id for i in kept))
        known = [i for i in kept if i.user_id in users and i.post_id in posts]
        rows = [mappers.interaction_to_row(i) for i in known]
        return _insert_ignoring_conflicts(self._conn, INTERACTIONS, rows)

    def for_user(self, user_id: UUID, since: datetime | None = None) -> list[Interaction]:
        if since is None:
            rows = self._conn.execute(_HISTORY, {"user_id": user_id})
        else:
            rows = self._conn.execute(_HISTORY_SINCE, {"user_id": user_id, "since": since})
        return [mappers.interaction_from_row(r) for r in rows]

    def history(self, user_id: UUID) -> list[HistoryItem]:
        rows = self._conn.execute(_HISTORY_ITEMS, {"user_id": user_id})
        return [HistoryItem(p, InteractionType(k), mappers.aware(t)) for p, k, t in rows]

    def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        return set(self._conn.scalars(_SEEN, {"user_id": user_id}))

    def seen_among(self, user_id: UUID, post_ids: Sequence[UUID]) -> set[UUID]:
        if not post_ids:
            return set()
        if self._conn.dialect.name == "postgresql":
            return seen_in_hex(self._conn.scalar(_SEEN_HEX, {"user_id": user_id}), post_ids)
        seen: set[UUID] = set()
        for chunk in _chunks(post_ids):
            seen.update(self._conn.scalars(_SEEN_AMONG, {"user_id": user_id, "post_ids": list(chunk)}))
        return seen

    def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        i, p = INTERACTIONS.c, POSTS.c
        stmt = (
            select(i.post_id, p.author_id, p.created_at, i.interaction_type, func.count())
            .join(POSTS, p.id == i.post_id)
            .where(i.created_at >= since)
            .group_by(i.post_id, p.author_id, p.created_at, i.interaction_type)
        )
        totals: dict[UUID, list[Any]] = {}
        for post_id, author_id, created_at, kind, count in self._conn.execute(stmt):
            entry = totals.setdefault(post_id, [author_id, mappers.aware(created_at), 0.0])
            entry[2] += weights.get(kind, 0.0) * count
        return [
            PostEngagement(pid, author, created, weight) for pid, (author, created, weight) in totals.items()
        ]


# PostgreSQL: a batch is seven array parameters, not a VALUES list of seven per row that
# SQLAlchemy and the driver would each render in Python (a third of a batch's time in the API).
# The placeholders are the driver's: `:ids` here, `$1` for asyncpg (event_loop.py), which sends the
# arrays in binary and returns the ids as UUIDs; psycopg2 sends array literals of hex, skipping its
# per-UUID adapter, and gets the ids back as text.
_INSERT_INTERACTIONS_SQL = (
    "INSERT INTO user_interaction (id, user_id, post_id, interaction_type, metadata, event_id, created_at)"
    " SELECT v.* FROM unnest(CAST({} AS uuid[]), CAST({} AS uuid[]), CAST({} AS uuid[]),"
    " CAST({} AS varchar[]), CAST({} AS jsonb[]), CAST({} AS varchar[]), CAST({} AS timestamptz[]))"
    " AS v(id, user_id, post_id, interaction_type, metadata, event_id, created_at){}"
    " ON CONFLICT DO NOTHING RETURNING {}"
)
# Rows whose user or post does not exist are left out, instead of failing the statement.
_ONLY_KNOWN = (
    " WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = v.user_id)"
    " AND EXISTS (SELECT 1 FROM posts p WHERE p.id = v.post_id)"
)
_ARRAY_NAMES = (":ids", ":user_ids", ":post_ids", ":kinds", ":metadata", ":event_ids", ":created_at")
_INSERT_KNOWN_INTERACTIONS_FROM_ARRAYS = text(
    _INSERT_INTERACTIONS_SQL.format(*_ARRAY_NAMES, _ONLY_KNOWN, "replace(id::text, '-', '')")
)
# For asyncpg: $1..$7 the columns as arrays, in the order of `interaction_columns`.
_POSITIONS = tuple(f"${n}" for n in range(1, 8))
INSERT_INTERACTIONS_SQL = _INSERT_INTERACTIONS_SQL.format(*_POSITIONS, "", "id")
INSERT_KNOWN_INTERACTIONS_SQL = _INSERT_INTERACTIONS_SQL.format(*_POSITIONS, _ONLY_KNOWN, "id")


def _insert_known_from_arrays(conn: Connection, interactions: Sequence[Interaction]) -> set[UUID]:
    returned = conn.execute(_INSERT_KNOWN_INTERACTIONS_FROM_ARRAYS, _as_arrays(interactions)).scalars().all()
    if len(returned) == len(interactions):  # the usual case: every item stored
        return {i.id for i in interactions}
    stored = set(returned)
    return {i.id for i in interactions if i.id.hex in stored}


def _uuid_array(ids: Iterable[UUID]) -> str:
    return "{" + ",".join(i.hex for i in ids) + "}"


def _text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal: each element double-quoted with `"` and `\\` escaped."""
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_arrays(interactions: Sequence[Interaction]) -> dict[str, str]:
    """Array literals, not lists: psycopg2 renders a list as ARRAY[...] with a cast per element,
    which PostgreSQL then parses and plans element by element (a third of a batch's time)."""
    return {
        "ids": _uuid_array(i.id for i in interactions),
        "user_ids": _uuid_array(i.user_id for i in interactions),
        "post_ids": _uuid_array(i.post_id for i in interactions),
        "kinds": _text_array(i.kind.value for i in interactions),
        "metadata": _text_array(json.dumps(dict(i.metadata)) if i.metadata else None for i in interactions),
        "event_ids": _text_array(i.event_id for i in interactions),
        "created_at": _text_array(i.created_at.isoformat() for i in interactions),
    }


def interaction_columns(interactions: Sequence[Interaction]) -> tuple[list[Any], ...]:
    """The seven columns of `INSERT_INTERACTIONS_SQL`, as lists asyncpg sends as arrays."""
    return (
        [i.id for i in interactions],
        [i.user_id for i in interactions],
        [i.post_id for i in interactions],
        [i.kind.value for i in interactions],
        [json.dumps(dict(i.metadata)) if i.metadata else None for i in interactions],
        [i.event_id for i in interactions],
        [i.created_at for i in interactions],
    )


def first_per_event_id(interactions: Sequence[Interaction]) -> list[Interaction]:
    """Drops repeats of an event id inside one batch; repeats across batches hit the unique index."""
    seen: set[str] = set()
    kept: list[Interaction] = []
    for interaction in interactions:
        if interaction.event_id is not None:
            if interaction.event_id in seen:
                continue
            seen.add(interaction.event_id)
        kept.append(interaction)
    return kept


# The rows of a user's list for a model version that has not expired.
_FRESH_ROWS = (
    RECOMMENDATIONS.c.user_id == bindparam("user_id"),
    RECOMMENDATIONS.c.model_version == bindparam("model_version"),
    RECOMMENDATIONS.c.expires_at > bindparam("now"),
)
_FRESH_LIST = (
    select(
        RECOMMENDATIONS.c.post_id,
        RECOMMENDATIONS.c.score,
        RECOMMENDATIONS.c.reason,
        RECOMMENDATIONS.c.generated_at,
        RECOMMENDATIONS.c.expires_at,
    )
    .where(*_FRESH_ROWS)
    .order_by(RECOMMENDATIONS.c.rank)
)
# Every row of a list is written with the list's generated_at, so any one row tells.
_LIST_GENERATED_AT = select(RECOMMENDATIONS.c.generated_at).where(*_FRESH_ROWS).limit(1)
# For asyncpg (event_loop.py): the seen-hex query and _LIST_GENERATED_AT in one round trip, for a
# page of a list kept in memory; $1 the user, $2 the model version, $3 now. Constants only.
KEPT_LIST_STATE_SQL = (
    f"SELECT ({_SEEN_HEX_SQL.format('$1')}),"  # noqa: S608
    " (SELECT generated_at FROM user_recommendation"
    " WHERE user_id = $1 AND model_version = $2 AND expires_at > $3 LIMIT 1)"
)
_RECOMMENDATION_COLUMNS = ("score", "reason", "model_version", "rank", "generated_at", "expires_at")


@cache
def _upsert_recommendations(dialect: str) -> Any:
    stmt = _insert(dialect, RECOMMENDATIONS)
    return stmt.on_conflict_do_update(
        index_elements=["user_id", "post_id"], set_={c: stmt.excluded[c] for c in _RECOMMENDATION_COLUMNS}
    )


# PostgreSQL: a user's list replaced by one statement over array literals (see _as_arrays):
# rows no longer listed are deleted, the listed ones upserted with their rank. SQLAlchemy's
# batched upsert rendered nine parameters per row in Python.
_REPLACE_FROM_ARRAYS = text(
    "WITH stale AS (DELETE FROM user_recommendation WHERE user_id = :user_id"
    " AND post_id <> ALL(CAST(:post_ids AS uuid[])))"
    " INSERT INTO user_recommendation"
    " (id, user_id, post_id, score, reason, model_version, rank, generated_at, expires_at)"
    " SELECT v.id, :user_id, v.post_id, v.score, v.reason, :model_version, v.position - 1,"
    " :generated_at, :expires_at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:post_ids AS uuid[]), CAST(:scores AS float8[]),"
    " CAST(:reasons AS varchar[])) WITH ORDINALITY AS v(id, post_id, score, reason, position)"
    " ON CONFLICT (user_id, post_id) DO UPDATE SET score = excluded.score, reason = excluded.reason,"
    " model_version = excluded.model_version, rank = excluded.rank,"
    " generated_at = excluded.generated_at, expires_at = excluded.expires_at"
)


# PostgreSQL: a stored list as one row of comma-joined strings. As 200 rows it cost 4 ms in
# Python, most of it parsing two timestamps and a UUID per row through the driver.
_FRESH_LIST_AS_STRINGS = text(
    "SELECT string_agg(replace(post_id::text, '-', ''), ',' ORDER BY rank),"
    " string_agg(score::text, ',' ORDER BY rank), string_agg(reason, ',' ORDER BY rank),"
    " max(generated_at), min(expires_at)"
    " FROM user_recommendation"
    " WHERE user_id = :user_id AND model_version = :model_version AND expires_at > :now"
)


def _fresh_list_from_strings(row: Any, model_version: str) -> StoredList | None:
    post_ids, scores, reasons, generated_at, expires_at = row
    if post_ids is None:
        return None
    items = tuple(
        mappers.recommendation_from_values(UUID(p), float(s), r)
        for p, s, r in zip(post_ids.split(","), scores.split(","), reasons.split(","), strict=True)
    )
    return StoredList(model_version, mappers.aware(generated_at), mappers.aware(expires_at), items)


class SqlAlchemyRecommendationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def fresh_list(self, user_id: UUID, model_version: str, now: datetime) -> StoredList | None:
        params = {"user_id": user_id, "model_version": model_version, "now": now}
        if self._conn.dialect.name == "postgresql":
            row = self._conn.execute(_FRESH_LIST_AS_STRINGS, params).one()
            return _fresh_list_from_strings(row, model_version)
        rows = self._conn.execute(_FRESH_LIST, params).all()
        if not rows:
            return None
        return StoredList(
            model_version=model_version,
            generated_at=mappers.aware(max(r[3] for r in rows)),
            expires_at=mappers.aware(min(r[4] for r in rows)),
            items=tuple(mappers.recommendation_from_values(p, s, r) for p, s, r, _, _ in rows),
        )

    def generated_at(self, user_id: UUID, model_version: str, now: datetime) -> datetime | None:
        params = {"user_id": user_id, "model_version": model_version, "now": now}
        value = self._conn.execute(_LIST_GENERATED_AT, params).scalar()
        return None if value is None else mappers.aware(value)

    def replace_for_user(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        if self._conn.dialect.name == "postgresql":
            params = {
                "user_id": user_id,
                "model_version": model_version,
                "generated_at": generated_at,
                "expires_at": expires_at,
                "ids": _uuid_array(uuid7() for _ in recommendations),
                "post_ids": _uuid_array(r.post_id for r in recommendations),
                "scores": "{" + ",".join(repr(r.score) for r in recommendations) + "}",
                "reasons": _text_array(r.reason.value for r in recommendations),
            }
            self._conn.execute(_REPLACE_FROM_ARRAYS, params)
            return
        keep = [r.post_id for r in recommendations]
        stale = delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.user_id == user_id)
        if keep:
            stale = stale.where(RECOMMENDATIONS.c.post_id.not_in(keep))
        self._conn.execute(stale)
        rows = [
            {
                "id": uuid7(),
                "user_id": user_id,
                "post_id": r.post_id,
                "score": r.score,
                "reason": r.reason.value,
                "model_version": model_version,
                "rank": rank,
                "generated_at": generated_at,
                "expires_at": expires_at,
            }
            for rank, r in enumerate(recommendations)
        ]
        upsert = _upsert_recommendations(self._conn.dialect.name)
        for chunk in _chunks(rows):
            self._conn.execute(upsert, list(chunk))

    def delete_expired(self, now: datetime) -> int:
        result = self._conn.execute(delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.expires_at <= now))
        return int(result.rowcount or 0)


__all__ = [
    "SqlAlchemyInteractionRepository",
    "SqlAlchemyPostRepository",
    "SqlAlchemyRecommendationRepository",
    "SqlAlchemyUserRepository",
]
