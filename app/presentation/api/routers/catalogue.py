from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import ValidationError

from app.application.use_cases.track_interactions import not_after
from app.bootstrap import Container
from app.domain.entities import Post, User
from app.presentation.api.catalogue_schemas import (
    PostBatch,
    PostBatchOut,
    PostIn,
    PostWithId,
    UpsertedOut,
    UserIn,
)
from app.presentation.api.dependencies import get_container
from app.presentation.api.errors import field_errors
from app.presentation.api.responses import json_response
from app.presentation.api.schemas import BODY_ERRORS, COMMON_ERRORS, ErrorResponse, RejectedOut

users = APIRouter(prefix="/users", tags=["catalogue"], responses=COMMON_ERRORS)
posts = APIRouter(prefix="/posts", tags=["catalogue"], responses=COMMON_ERRORS)
TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "another user has the username"}
}
Services = Annotated[Container, Depends(get_container)]


@users.put(
    "/{user_id}",
    response_model=UpsertedOut,
    responses={**BODY_ERRORS, **TAKEN, 201: {"model": UpsertedOut}},
)
async def put_user(user_id: UUID, body: UserIn, services: Services) -> Response:
    """Creates or updates a user of the app (201 when new); 409 when another user has the username."""
    created_at = not_after(body.created_at, services.clock.now())
    user = User(user_id, body.username, body.display_name, body.follower_count, created_at)
    created = await services.upsert_user.execute(user)
    return json_response(UpsertedOut(id=user_id, created=created), status_code=201 if created else 200)


@users.delete("/{user_id}", status_code=204)
async def erase_user(user_id: UUID, services: Services) -> Response:
    """Erases the user and everything recorded about them: interactions, lists, their posts.
    Answers 204 whether or not the user existed, so a retried erasure succeeds."""
    await services.erase_user.execute(user_id)
    return Response(status_code=204)


@posts.put(
    "/{post_id}",
    response_model=UpsertedOut,
    responses={**BODY_ERRORS, 201: {"model": UpsertedOut}},
)
async def put_post(post_id: UUID, body: PostIn, services: Services) -> Response:
    """Creates or updates a post (201 when new); an author the service does not know yet is created."""
    post = _post(post_id, body, services)
    created = await services.upsert_posts.execute([post]) == 1
    return json_response(UpsertedOut(id=post_id, created=created), status_code=201 if created else 200)


@posts.put("", response_model=PostBatchOut, responses=BODY_ERRORS)
async def put_posts(body: PostBatch, services: Services) -> Response:
    """Creates or updates up to 1,000 posts; each bad item is reported, the good ones stored."""
    good: list[Post] = []
    rejected: list[RejectedOut] = []
    for index, raw in enumerate(body.posts):
        try:
            item = PostWithId.model_validate(raw)
        except ValidationError as error:
            first = field_errors(error.errors())[0]
            field = first["field"] or None  # None: the item is not an object at all
            rejected.append(RejectedOut(index=index, field=field, error=first["message"]))
            continue
        good.append(_post(item.id, item, services))
    created = await services.upsert_posts.execute(_last_per_id(good)) if good else 0
    return json_response(PostBatchOut(accepted=len(good), created=created, rejected=rejected))


@posts.delete("/{post_id}", status_code=204)
async def delete_post(post_id: UUID, services: Services) -> Response:
    """Deletes the post, its interactions and its place in every list, at once. Answers 204
    whether or not it existed, so a retried deletion succeeds."""
    await services.delete_post.execute(post_id)
    return Response(status_code=204)


def _post(post_id: UUID, body: PostIn, services: Container) -> Post:
    created_at = not_after(body.created_at, services.clock.now())
    return Post(post_id, body.author_id, body.content, created_at, body.topic, tuple(body.hashtags))


def _last_per_id(posts: list[Post]) -> list[Post]:
    """A batch naming a post twice stores the later one (one statement cannot update a row twice)."""
    return list({p.id: p for p in posts}.values())
