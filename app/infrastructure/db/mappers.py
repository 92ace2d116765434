"""Row ↔ entity mapping. SQLite hands back naive datetimes: they are UTC by construction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from app.domain.entities import Interaction, InteractionType, Post, RankedPosts, Reason, User


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def user_to_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "follower_count": user.follower_count,
        "created_at": user.created_at,
    }


def user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        follower_count=row.follower_count,
        created_at=aware(row.created_at),
    )


def post_to_row(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "author_id": post.author_id,
        "content": post.content,
        "topic": post.topic,
        "hashtags": list(post.hashtags),
        "created_at": post.created_at,
    }


def post_from_row(row: Row[Any]) -> Post:
    return Post(
        id=row.id,
        author_id=row.author_id,
        content=row.content,
        topic=row.topic,
        hashtags=tuple(row.hashtags or ()),
        created_at=aware(row.created_at),
    )


def interaction_to_row(interaction: Interaction) -> dict[str, Any]:
    return {
        "id": interaction.id,
        "user_id": interaction.user_id,
        "post_id": interaction.post_id,
        "interaction_type": interaction.kind.value,
        "metadata": dict(interaction.metadata) or None,
        "event_id": interaction.event_id,
        "created_at": interaction.created_at,
    }


def interaction_from_row(row: Row[Any]) -> Interaction:
    return Interaction(
        id=row.id,
        user_id=row.user_id,
        post_id=row.post_id,
        kind=InteractionType(row.interaction_type),
        created_at=aware(row.created_at),
        metadata=row.metadata or {},
        event_id=row.event_id,
    )


def ranked_from_columns(ids: Iterable[int], scores: Iterable[float], reasons: Iterable[str]) -> RankedPosts:
    """A list as read back: scores clamped into [0, 1] (a float's text may round past 1)."""
    return RankedPosts.from_columns(
        ids, (min(1.0, max(0.0, s)) for s in scores), (Reason(r) for r in reasons)
    )


def ranked_from_joined(post_ids: str | None, scores: str, reasons: str) -> RankedPosts:
    """A list stored as comma-joined hex post ids, scores and reasons."""
    if not post_ids:
        return RankedPosts()
    return ranked_from_columns(
        (int(p, 16) for p in post_ids.split(",")),
        (float(s) for s in scores.split(",")),
        reasons.split(","),
    )
