"""Request and response schemas of the catalogue: the app's users and posts."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
    field_validator,
)

from app.presentation.api.schemas import SINCE_1970, RejectedOut, check_text, check_time, text_time

MAX_POSTS = 1000
# Since 1970: what the service and its training can hold (a later time than now is taken as now).
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(text_time),
    AfterValidator(check_time),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": SINCE_1970}),
]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field("", max_length=128)
    follower_count: StrictInt = Field(0, ge=0, le=2**31 - 1)
    created_at: Moment | None = Field(None, description="the account's creation; now if absent")

    @field_validator("username", "display_name")
    @classmethod
    def _storable(cls, value: str) -> str:
        check_text(value)
        return value


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author_id: UUID
    content: str = Field(max_length=100_000)
    created_at: Moment | None = Field(None, description="the post's creation; now if absent")
    topic: str | None = Field(None, max_length=64)
    hashtags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )

    @field_validator("content", "topic")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None:
            check_text(value)
        return value

    @field_validator("hashtags")
    @classmethod
    def _storable_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            check_text(tag)
        return value


class PostWithId(PostIn):
    id: UUID


# Any JSON value: an item that is not a post, or not even an object, is rejected alone in the
# answer, not with its batch; the schema says so rather than promising a 422.
PostItem = Annotated[
    Any,
    WithJsonSchema(
        {"description": "a post with its `id` (see PostIn); an invalid item is listed in `rejected`"}
    ),
]


class PostBatch(BaseModel):
    """Items are validated one by one, so a bad item is reported without losing the good ones."""

    model_config = ConfigDict(extra="forbid")

    posts: list[PostItem] = Field(min_length=1, max_length=MAX_POSTS)


class UpsertedOut(BaseModel):
    id: UUID
    created: bool


class PostBatchOut(BaseModel):
    accepted: int
    created: int
    rejected: list[RejectedOut]
