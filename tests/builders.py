"""Small builders for test data: every field has a sensible default, override what matters."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.domain.entities import Interaction, InteractionType, Post, RankedPosts, Reason, Recommendation, User

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_counter = itertools.count()


def ranked(
    post_ids: Iterable[uuid.UUID], score: float = 0.5, reason: Reason = Reason.TRENDING
) -> RankedPosts:
    """A ranked list of `post_ids`, every one with the same score and reason."""
    return RankedPosts(Recommendation(p, score, reason) for p in post_ids)


def make_user(**overrides: Any) -> User:
    n = next(_counter)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "username": f"user_{n}_{uuid.uuid4().hex[:6]}",
        "display_name": f"User {n}",
        "follower_count": 10,
        "created_at": BASE_TIME,
    }
    values.update(overrides)
    return User(**values)


def make_post(**overrides: Any) -> Post:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "author_id": uuid.uuid4(),
        "content": "a post about python and testing",
        "created_at": BASE_TIME,
        "topic": "technology",
        "hashtags": ("python",),
    }
    values.update(overrides)
    return Post(**values)


def make_interaction(**overrides: Any) -> Interaction:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "post_id": uuid.uuid4(),
        "kind": InteractionType.VIEW,
        "created_at": BASE_TIME,
        "metadata": {},
        "event_id": None,
    }
    values.update(overrides)
    return Interaction(**values)
