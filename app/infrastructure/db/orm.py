"""SQLAlchemy 2 schema: the single source of truth for the tables and their indexes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.shared.ids import uuid7

# The Alembic revision these tables are at; the service refuses to serve another schema.
SCHEMA_REVISION = "0006"

# JSONB on PostgreSQL, JSON (text) on SQLite; None is SQL NULL (as the seeder writes it), not JSON null.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that binds every aware value in UTC.

    SQLite stores a datetime's wall clock and drops its offset, and compares the text: a time
    sent at +02:00 was stored two hours late. In UTC, a naive value read back is UTC (see
    mappers.aware). PostgreSQL's timestamptz stores the instant either way."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", name="uq_users_username"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str] = mapped_column(String(128), nullable=False)
    follower_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PostRow(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_author_id", "author_id"),
        Index("ix_posts_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    author_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    content: Mapped[str] = mapped_column(Text, nullable=False)
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hashtags: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class InteractionRow(Base):
    __tablename__ = "user_interaction"
    __table_args__ = (
        # Covering on PostgreSQL: a user's seen posts and history are read from the index alone.
        Index(
            "ix_user_interaction_user_id_created_at",
            "user_id",
            "created_at",
            postgresql_include=["post_id", "interaction_type"],
        ),
        Index("ix_user_interaction_post_id_created_at", "post_id", "created_at"),
        Index("ix_user_interaction_created_at", "created_at"),
        # An event id is the client's, unique per user (a short one may be reused by another
        # user). Partial: most interactions carry none, and indexing their NULLs buys nothing.
        Index(
            "ux_user_interaction_user_id_event_id",
            "user_id",
            "event_id",
            unique=True,
            postgresql_where=text("event_id IS NOT NULL"),
            sqlite_where=text("event_id IS NOT NULL"),
        ),
        CheckConstraint(
            "interaction_type IN ('view', 'click', 'like', 'share')", name="ck_user_interaction_type"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    interaction_type: Mapped[str] = mapped_column(String(16), nullable=False)
    # "metadata" is reserved on declarative classes, so the attribute has another name.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType, nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class RecommendationRow(Base):
    __tablename__ = "user_recommendation"
    __table_args__ = (
        UniqueConstraint("user_id", "post_id", name="uq_user_recommendation_user_post"),
        Index("ix_user_recommendation_user_id_expires_at", "user_id", "expires_at"),
        Index("ix_user_recommendation_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    rank: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# Defined after the class: the DESC ordering needs the column object.
Index("ix_user_recommendation_user_id_score", RecommendationRow.user_id, RecommendationRow.score.desc())


class ServiceMetaRow(Base):
    """Facts about the database itself, one row per key; `database_id` is its stable id."""

    __tablename__ = "service_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class ServedListRow(Base):
    """A ranked list as served, kept so a cursor can continue it: one row per list, its posts,
    scores and reasons as comma-joined strings in rank order."""

    __tablename__ = "served_list"
    __table_args__ = (
        Index("ix_served_list_expires_at", "expires_at"),
        Index("ix_served_list_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    post_ids: Mapped[str] = mapped_column(Text, nullable=False)
    scores: Mapped[str] = mapped_column(Text, nullable=False)
    reasons: Mapped[str] = mapped_column(Text, nullable=False)


class DeletedPostRow(Base):
    """A deleted post's id, kept while a list that may hold it can still be served (kept in a
    worker's memory or continued by a cursor), so every page leaves it out at once."""

    __tablename__ = "deleted_post"
    __table_args__ = (Index("ix_deleted_post_deleted_at", "deleted_at"),)

    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# Core handles of the tables, for the adapters' statements.
USERS = cast(Table, UserRow.__table__)
POSTS = cast(Table, PostRow.__table__)
INTERACTIONS = cast(Table, InteractionRow.__table__)
RECOMMENDATIONS = cast(Table, RecommendationRow.__table__)
SERVED = cast(Table, ServedListRow.__table__)
DELETED = cast(Table, DeletedPostRow.__table__)
