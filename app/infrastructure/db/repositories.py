"""SQLAlchemy adapters of the repository ports. They add and query; the unit of work commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.domain.entities import Interaction, Post, PostEngagement, Recommendation, User
from app.infrastructure.db import mappers
from app.infrastructure.db.orm import InteractionRow, PostRow, RecommendationRow, UserRow

# Keeps bound parameters per statement under SQLite's and psycopg2's comfortable limits.
CHUNK = 500


def _insert(session: Session, table: Table) -> Any:
    """An INSERT with the dialect's ON CONFLICT support (PostgreSQL and SQLite share the syntax)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_ignoring_conflicts(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    inserted = 0
    for chunk in _chunks(rows):
        stmt = _insert(session, table).on_conflict_do_nothing().returning(table.c.id)
        inserted += len(session.execute(stmt, list(chunk)).all())
    return inserted


def _existing(session: Session, column: Any, ids: Iterable[UUID]) -> set[UUID]:
    wanted = list(dict.fromkeys(ids))
    found: set[UUID] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


class SqlAlchemyUserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, users: Iterable[User]) -> int:
        rows = [mappers.user_to_row(u) for u in users]
        return _insert_ignoring_conflicts(self._session, UserRow.__table__, rows)  # type: ignore[arg-type]

    def get(self, user_id: UUID) -> User | None:
        row = self._session.get(UserRow, user_id)
        return mappers.user_from_row(row) if row else None

    def existing_ids(self, user_ids: Iterable[UUID]) -> set[UUID]:
        return _existing(self._session, UserRow.id, user_ids)


class SqlAlchemyPostRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, posts: Iterable[Post]) -> int:
        rows = [mappers.post_to_row(p) for p in posts]
        return _insert_ignoring_conflicts(self._session, PostRow.__table__, rows)  # type: ignore[arg-type]

    def get_many(self, post_ids: Iterable[UUID]) -> list[Post]:
        wanted = list(dict.fromkeys(post_ids))
        posts: list[Post] = []
        for chunk in _chunks(wanted):
            rows = self._session.scalars(select(PostRow).where(PostRow.id.in_(chunk)))
            posts.extend(mappers.post_from_row(r) for r in rows)
        return posts

    def existing_ids(self, post_ids: Iterable[UUID]) -> set[UUID]:
        return _existing(self._session, PostRow.id, post_ids)

    def ids_by_author(self, author_id: UUID) -> set[UUID]:
        return set(self._session.scalars(select(PostRow.id).where(PostRow.author_id == author_id)))

    def created_since(self, since: datetime, limit: int) -> list[Post]:
        stmt = (
            select(PostRow)
            .where(PostRow.created_at >= since)
            .order_by(PostRow.created_at.desc(), PostRow.id)
            .limit(limit)
        )
        return [mappers.post_from_row(r) for r in self._session.scalars(stmt)]


class SqlAlchemyInteractionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_many(self, interactions: Sequence[Interaction]) -> tuple[int, int]:
        rows = [mappers.interaction_to_row(i) for i in _first_per_event_id(interactions)]
        stored = _insert_ignoring_conflicts(self._session, InteractionRow.__table__, rows)  # type: ignore[arg-type]
        return stored, len(interactions) - stored

    def for_user(self, user_id: UUID, since: datetime | None = None) -> list[Interaction]:
        stmt = select(InteractionRow).where(InteractionRow.user_id == user_id)
        if since is not None:
            stmt = stmt.where(InteractionRow.created_at >= since)
        stmt = stmt.order_by(InteractionRow.created_at, InteractionRow.id)
        return [mappers.interaction_from_row(r) for r in self._session.scalars(stmt)]

    def seen_post_ids(self, user_id: UUID) -> set[UUID]:
        stmt = select(InteractionRow.post_id).where(InteractionRow.user_id == user_id).distinct()
        return set(self._session.scalars(stmt))

    def engagement_since(self, since: datetime, weights: dict[str, float]) -> list[PostEngagement]:
        stmt = (
            select(
                InteractionRow.post_id,
                PostRow.author_id,
                PostRow.created_at,
                InteractionRow.interaction_type,
                func.count(),
            )
            .join(PostRow, PostRow.id == InteractionRow.post_id)
            .where(InteractionRow.created_at >= since)
            .group_by(
                InteractionRow.post_id, PostRow.author_id, PostRow.created_at, InteractionRow.interaction_type
            )
        )
        totals: dict[UUID, list[Any]] = {}
        for post_id, author_id, created_at, kind, count in self._session.execute(stmt):
            entry = totals.setdefault(post_id, [author_id, mappers.aware(created_at), 0.0])
            entry[2] += weights.get(kind, 0.0) * count
        return [
            PostEngagement(pid, author, created, weight) for pid, (author, created, weight) in totals.items()
        ]


def _first_per_event_id(interactions: Sequence[Interaction]) -> list[Interaction]:
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


class SqlAlchemyRecommendationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def unseen_page(
        self,
        user_id: UUID,
        now: datetime,
        model_version: str,
        *,
        exclude: frozenset[UUID],
        offset: int,
        limit: int,
    ) -> tuple[list[Recommendation], int] | None:
        row = RecommendationRow
        fresh = (row.user_id == user_id, row.model_version == model_version, row.expires_at > now)
        seen = select(InteractionRow.post_id).where(InteractionRow.user_id == user_id)
        conditions = [*fresh, row.post_id.not_in(seen)]
        if exclude:
            conditions.append(row.post_id.not_in(list(exclude)))
        stmt = (
            select(row.post_id, row.score, row.reason, func.count().over())
            .where(*conditions)
            .order_by(row.rank)
            .offset(offset)
            .limit(limit)
        )
        rows = self._session.execute(stmt).all()
        if rows:
            return [mappers.recommendation_from_values(p, s, r) for p, s, r, _ in rows], int(rows[0][3])
        # An empty page: past the end, everything seen, or nothing stored at all?
        total = self._session.scalar(select(func.count()).select_from(row).where(*conditions))
        if total:
            return [], int(total)
        has_fresh = self._session.scalar(select(row.id).where(*fresh).limit(1))
        return ([], 0) if has_fresh is not None else None

    def replace_for_user(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        keep = [r.post_id for r in recommendations]
        stale = delete(RecommendationRow).where(RecommendationRow.user_id == user_id)
        if keep:
            stale = stale.where(RecommendationRow.post_id.not_in(keep))
        self._session.execute(stale)
        rows = [
            {
                "id": uuid.uuid4(),
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
        self._upsert(rows)

    def _upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        table: Table = RecommendationRow.__table__  # type: ignore[assignment]
        updated = ("score", "reason", "model_version", "rank", "generated_at", "expires_at")
        for chunk in _chunks(rows):
            stmt = _insert(self._session, table)
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id", "post_id"], set_={c: stmt.excluded[c] for c in updated}
            )
            self._session.execute(stmt, list(chunk))

    def delete_expired(self, now: datetime) -> int:
        result = self._session.execute(delete(RecommendationRow).where(RecommendationRow.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "SqlAlchemyInteractionRepository",
    "SqlAlchemyPostRepository",
    "SqlAlchemyRecommendationRepository",
    "SqlAlchemyUserRepository",
]
