"""The feed's test world: a reader, an author, their posts and an in-memory database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest

from app.application.use_cases.generate_recommendations import GenerateRecommendations, RankingPolicy
from app.application.use_cases.trending import TrendingPosts
from app.domain.entities import InteractionType, Post, RankedPosts, Reason, Recommendation, StoredList, User
from app.infrastructure.kept_lists import InMemoryKeptLists, InMemoryKeptServedLists
from tests.builders import make_interaction, make_post, make_user
from tests.fakes import (
    FakeModelProvider,
    FakeRecommender,
    FixedClock,
    InMemoryStoredListWriter,
    InMemoryStores,
)

WEIGHTS = {"view": 1.0, "click": 2.0, "like": 5.0, "share": 10.0}


@dataclass
class World:
    """A reader, five posts by another author (newest first) and one post of the reader's own."""

    clock: FixedClock
    stores: InMemoryStores
    writer: InMemoryStoredListWriter
    reader: User
    author: User
    posts: list[Post]
    own: Post

    def use_case(
        self, model: FakeRecommender | None, ttl_minutes: int = 60, kept: InMemoryKeptLists | None = None
    ) -> GenerateRecommendations:
        trending = TrendingPosts(
            self.stores.interactions, self.clock, weights=WEIGHTS, window=timedelta(hours=72), cache_seconds=0
        )
        return GenerateRecommendations(
            posts=self.stores.posts,
            interactions=self.stores.interactions,
            lists=self.stores.lists,
            served=self.stores.served,
            writer=self.writer,
            kept=kept if kept is not None else InMemoryKeptLists(max_users=100),
            kept_served=InMemoryKeptServedLists(100),
            models=FakeModelProvider(model),
            trending=trending,
            clock=self.clock,
            policy=RankingPolicy(ttl=timedelta(minutes=ttl_minutes), top_n=50),
        )

    async def interact(self, user: User, post: Post, kind: InteractionType = InteractionType.VIEW) -> None:
        interaction = make_interaction(
            user_id=user.id, post_id=post.id, kind=kind, created_at=self.clock.now()
        )
        await self.stores.interactions.add_many([interaction])

    def scores(self) -> dict[UUID, float]:
        """The model ranks the posts in order, and the reader's own post above them all."""
        table = {p.id: 0.9 - 0.1 * i for i, p in enumerate(self.posts)}
        table[self.own.id] = 1.0
        return table

    async def store_list(self, version: str, *posts: Post) -> list[Recommendation]:
        """What another worker or the precompute job does: store a list for the reader, now."""
        now = self.clock.now()
        items = [Recommendation(p.id, 0.7, Reason.CONTENT_SIMILARITY) for p in posts]
        await self.stores.lists.store(
            [StoredList(self.reader.id, version, now, now + timedelta(minutes=30), RankedPosts(items))]
        )
        return items


@pytest.fixture
async def world() -> World:
    clock, stores = FixedClock(), InMemoryStores()
    reader, author = make_user(), make_user()
    posts = [
        make_post(author_id=author.id, created_at=clock.now() - timedelta(hours=i + 1)) for i in range(5)
    ]
    own = make_post(author_id=reader.id, created_at=clock.now() - timedelta(hours=1))
    await stores.users.add_many([reader, author])
    await stores.posts.add_many([*posts, own])
    writer = InMemoryStoredListWriter(stores.lists, stores.served)
    return World(clock, stores, writer, reader, author, posts, own)
