"""The app's users and posts, synced into the service: upserts, post deletion and user erasure."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from app.domain.entities import Post, User
from app.domain.ports import Clock, PostRepository, UserRepository


class UpsertUser:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def execute(self, user: User) -> bool:
        """Stores the user as given; True when it was new. Raises Conflict on a taken username."""
        return await self._users.upsert(user)


class UpsertPosts:
    def __init__(self, posts: PostRepository) -> None:
        self._posts = posts

    async def execute(self, posts: Sequence[Post]) -> int:
        """Stores the posts as given (an unknown author is created, to be synced later); returns
        how many were new. New posts reach feeds through their content until the next training."""
        return await self._posts.upsert_many(posts)


class DeletePost:
    def __init__(self, posts: PostRepository, clock: Clock) -> None:
        self._posts = posts
        self._clock = clock

    async def execute(self, post_id: UUID) -> bool:
        """Removes the post from the database and from every list at once; True when it existed."""
        return await self._posts.delete(post_id, self._clock.now())


class EraseUser:
    def __init__(self, users: UserRepository, clock: Clock) -> None:
        self._users = users
        self._clock = clock

    async def execute(self, user_id: UUID) -> bool:
        """Erases the user, their interactions, lists and posts; True when the user existed."""
        return await self._users.erase(user_id, self._clock.now())
