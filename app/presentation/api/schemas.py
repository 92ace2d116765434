"""Request and response schemas: the HTTP contract of DESIGN.md."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    WithJsonSchema,
    field_validator,
)

from app.application.dto import Cursor
from app.domain.entities import Reason

MAX_EXCLUDED_POSTS = 500
MAX_BATCH = 500
MAX_METADATA_DEPTH = 16
# The JSON schema's way to say "since 1970" of an RFC 3339 date-time: by its year.
SINCE_1970 = r"^(19[7-9][0-9]|[2-9][0-9]{3})-"


class RecommendationContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: `0` is not false, nor `true` a limit of 1; the schema says boolean and integer.
    exclude_seen: StrictBool = True
    exclude_post_ids: list[UUID] = Field(default_factory=list, max_length=MAX_EXCLUDED_POSTS)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    limit: StrictInt = Field(50, ge=1, le=100)
    offset: StrictInt = Field(0, ge=0, le=1000, description="ignored with a cursor")
    cursor: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{27}$",
        description="the previous page's metadata.next_cursor: continues that list where it ended",
    )
    context: RecommendationContext = Field(default_factory=RecommendationContext)

    @field_validator("cursor")
    @classmethod
    def _cursor_is_ours(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)  # raises ValueError, reported as a 422 on `cursor`
        return value


def encode_cursor(cursor: Cursor) -> str:
    """Opaque to clients: the list's id and the position the next page starts at."""
    return (
        base64.urlsafe_b64encode(cursor.list_id.bytes + cursor.position.to_bytes(4, "big"))
        .decode()
        .rstrip("=")
    )


def decode_cursor(value: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(value) != 27 or len(raw) != 20:
        raise ValueError("not a cursor this service issued: send the previous page's metadata.next_cursor")
    return Cursor(UUID(bytes=raw[:16]), int.from_bytes(raw[16:], "big"))


class RecommendationOut(BaseModel):
    post_id: UUID
    score: float = Field(ge=0, le=1)
    reason: Reason


class RecommendationMetadata(BaseModel):
    total: int
    model_version: str | None
    generated_at: datetime
    source: Literal["model", "precomputed", "cold_start"]
    recommendation_id: UUID = Field(description="the ranked list these posts come from")
    next_cursor: str | None = Field(description="send as `cursor` for the next page; null at the end")
    cursor_expired: bool = Field(
        description="a cursor was sent but its list is gone (expired or unknown): this page starts a new list"
    )


class GenerateResponse(BaseModel):
    user_id: UUID
    recommendations: list[RecommendationOut]
    metadata: RecommendationMetadata


class LegacyRecommendationsResponse(BaseModel):
    recommendations: list[RecommendationOut]
    model_version: str | None


class InteractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    post_id: UUID
    interaction_type: Literal["view", "click", "like", "share"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    event_id: str | None = Field(None, min_length=1, max_length=128)
    created_at: AwareDatetime | None = Field(
        None,
        description="when it happened, since 1970; the server's time if absent or more than 5 minutes ahead",
        json_schema_extra={"pattern": SINCE_1970},
    )

    # PostgreSQL stores neither NUL characters, lone UTF-16 surrogates nor non-finite numbers:
    # refuse them here, per item, rather than fail the whole insert (and the valid items with it).
    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_storable(value, 0)
        return value

    @field_validator("event_id")
    @classmethod
    def _storable_event_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_text(value)
        return value

    @field_validator("created_at", mode="before")
    @classmethod
    def _a_string(cls, value: Any) -> Any:
        return text_time(value)

    @field_validator("created_at")
    @classmethod
    def _not_before_1970(cls, value: datetime | None) -> datetime | None:
        return check_time(value)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def text_time(value: Any) -> Any:
    """A number is not a time here, though pydantic would read it as seconds since 1970."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string, such as 2026-12-01T12:00:00Z")
    return value


def check_time(value: datetime | None) -> datetime | None:
    """Times the service and its training can hold: since 1970 (a later time than now is taken as
    now, where it is used)."""
    if value is not None and value < EARLIEST:
        raise ValueError("must not be before 1970-01-01")
    return value


def check_text(value: str) -> None:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (a lone UTF-16 surrogate such as \\ud800 is not)") from None


def _check_storable(value: Any, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, depth + 1)
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)


# Any JSON value: an item that is not an interaction, or not even an object, is rejected alone in
# the 202 answer, not with its batch; the schema says so rather than promising a 422.
InteractionItem = Annotated[
    Any,
    WithJsonSchema(
        {"description": "an interaction (see InteractionIn); an invalid item is listed in `rejected`"}
    ),
]


class InteractionBatch(BaseModel):
    """Items are validated one by one, so a bad item is reported without losing the good ones."""

    model_config = ConfigDict(extra="forbid")

    interactions: list[InteractionItem] = Field(min_length=1, max_length=MAX_BATCH)


def _track_shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "interactions" in value else "single"


TrackBody = Annotated[
    Annotated[InteractionIn, Tag("single")] | Annotated[InteractionBatch, Tag("batch")],
    Discriminator(_track_shape),
]


class RejectedOut(BaseModel):
    index: int
    field: str | None
    error: str


class TrackResponse(BaseModel):
    status: Literal["tracked"] = "tracked"
    accepted: int
    duplicates: int = Field(description="repeats of an event the user sent before: same event_id and content")
    conflicts: int = Field(description="a user's event_id sent again for another event: not stored")
    rejected: list[RejectedOut]
    conflicting: list[RejectedOut] = Field(description="each conflict, by its index in the request")


class DatabaseHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    error: str | None


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    model_version: str | None
    model_loaded: bool
    database: DatabaseHealth
    model_error: str | None = None


class FieldProblem(BaseModel):
    field: str = Field(description="where, e.g. body.limit or body.interactions.3.user_id")
    message: str
    type: str | None


class ErrorResponse(BaseModel):
    """Every error the service answers, whatever its status."""

    error: str = Field(
        description="validation_error, not_found, unauthorized, conflict, storage_unavailable, …"
    )
    detail: str | list[FieldProblem] | None = None
    request_id: str = Field(
        description="the response's X-Request-ID (the caller's own, if it sent one); the service log"
        " has what went wrong under it"
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# The errors any route may answer, documented once for every route that can.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("the body is not valid UTF-8 or JSON"),
    413: _error("the body is over ML_MAX_BODY_BYTES"),
    415: _error("the body is not application/json"),
}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("ML_SERVICE_API_KEY is set and the request does not carry it"),
    408: _error("the headers or the body arrived too slowly; the connection is closed"),
    414: _error("the request target is over ML_MAX_HEADER_BYTES"),
    431: _error("the headers are over ML_MAX_HEADER_BYTES or ML_MAX_HEADER_COUNT fields"),
    422: _error("a field is missing, unknown or out of range; `detail` names each one"),
    503: _error("the database does not answer, or its schema is not the one the code needs"),
}
