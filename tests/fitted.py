"""Small fitted models, and queries for them, for the artifact, loader and export tests."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pandas as pd

from app.domain.entities import HistoryItem, InteractionType, Post
from app.domain.ports import RecommendationQuery
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.recommender import KnnRecommender

TRAINED = datetime(2026, 11, 20, tzinfo=UTC)
NS = UUID("6f1c0d3e-0000-4000-8000-000000000000")
# Two tastes (cooking p1-p4, football p5-p8) and an author, "chef", who also reads.
LIKES = {
    "ann": ["p1", "p2"],
    "bob": ["p1", "p2", "p3"],
    "cat": ["p2", "p3", "p4"],
    "dan": ["p5", "p6"],
    "eve": ["p5", "p6", "p7"],
    "fay": ["p6", "p7", "p8"],
    "chef": ["p5"],
}
TEXT = {
    "p1": ("homemade pasta with tomato sauce", "cooking"),
    "p2": ("the best kitchen knives for a chef", "cooking"),
    "p3": ("a quick sauce for fresh pasta", "cooking"),
    "p4": ("bread dough and a hot oven", "cooking"),
    "p5": ("late goal wins the league match", "football"),
    "p6": ("striker transfer rumours before the match", "football"),
    "p7": ("the keeper saves a penalty", "football"),
    "p8": ("league table after the derby", "football"),
}


def uid(name: str) -> UUID:
    return uuid5(NS, name)


@functools.cache
def fitted(engine: str = "user_knn") -> KnnRecommender:
    """A model of each engine, fitted once per test session (treat it as read-only)."""
    rows = [
        (str(uid(user)), str(uid(post)), "like" if j % 2 else "view", TRAINED - timedelta(hours=i, minutes=j))
        for i, (user, posts) in enumerate(LIKES.items())
        for j, post in enumerate(posts)
    ]
    interactions = pd.DataFrame(rows, columns=["user_id", "post_id", "interaction_type", "created_at"])
    interactions["created_at"] = pd.to_datetime(interactions["created_at"], utc=True)
    posts = pd.DataFrame(
        {
            "id": [str(uid(p)) for p in TEXT],
            "author_id": [str(uid("chef" if p in ("p1", "p3") else "press")) for p in TEXT],
            "content": [content for content, _ in TEXT.values()],
            "topic": [topic for _, topic in TEXT.values()],
            "hashtags": [[topic, "news"] for _, topic in TEXT.values()],
            "created_at": pd.to_datetime([TRAINED - timedelta(days=5)] * len(TEXT), utc=True),
        }
    )
    users = pd.DataFrame({"id": [str(uid(u)) for u in [*LIKES, "press"]], "follower_count": 10})
    config = KnnConfig(n_neighbors=2, engine=engine, blend_content=0.3)
    return KnnRecommender(config).fit(interactions, posts, users)


def query(
    user: str, posts: list[str], *, hours_after: float = 1.0, fresh: bool = True
) -> RecommendationQuery:
    """`user` having liked `posts` (before training ended), asking `hours_after` training; with
    `fresh`, two posts written since are candidates too."""
    now = TRAINED + timedelta(hours=hours_after)
    history = [HistoryItem(uid(p), InteractionType.LIKE, TRAINED - timedelta(days=4)) for p in posts]
    new_posts = [
        Post(uid("fresh-pasta"), uid("chef"), "pasta sauce tonight", now - timedelta(minutes=30), "cooking"),
        Post(
            uid("fresh-match"),
            uid("press"),
            "a match report",
            now - timedelta(minutes=20),
            "football",
            ("news",),
        ),
    ]
    return RecommendationQuery(
        uid(user), history, frozenset(uid(p) for p in posts), 10, now, new_posts if fresh else ()
    )


QUERIES = [
    query("ann", ["p1", "p2"]),  # a known user, nothing newer than the model
    query("chef", ["p5"]),  # a known user who wrote posts: their own never appear
    query("newcomer", ["p6", "p7"]),  # folded in from the request's history
    query("ann", ["p1", "p2", "p5"], fresh=False),
    query("stranger", []),  # trending
]
