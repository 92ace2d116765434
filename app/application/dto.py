"""Commands and results of the use cases: plain dataclasses, no framework."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from app.domain.entities import InteractionType, RankedPosts


class Source(StrEnum):
    MODEL = "model"
    STORED = "precomputed"  # the API's name for a page of a stored list
    COLD_START = "cold_start"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page of a served list starts."""

    list_id: UUID
    position: int


@dataclass(frozen=True, slots=True)
class GenerateRecommendationsCommand:
    user_id: UUID
    limit: int = 50
    offset: int = 0
    exclude_seen: bool = True
    exclude_post_ids: frozenset[UUID] = frozenset()
    cursor: Cursor | None = None


@dataclass(frozen=True, slots=True)
class RecommendationsResult:
    user_id: UUID
    recommendations: RankedPosts
    total: int
    model_version: str | None
    generated_at: datetime
    source: Source
    recommendation_id: UUID
    """The served list these posts come from."""
    next_cursor: Cursor | None = None
    """Where the next page starts; None at the end of the list."""
    cursor_expired: bool = False
    """A cursor was sent but its list is gone (expired or unknown): this is a new list."""


@dataclass(frozen=True, slots=True)
class InteractionInput:
    """One interaction to track; `index` is its position in the request, for error reports."""

    index: int
    user_id: UUID
    post_id: UUID
    kind: InteractionType
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RejectedItem:
    index: int
    error: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class TrackInteractionsCommand:
    items: Sequence[InteractionInput]
    already_rejected: Sequence[RejectedItem] = ()


@dataclass(frozen=True, slots=True)
class TrackingResult:
    accepted: int
    duplicates: int
    """Items with an event id the user sent before, or earlier in the batch, for the same event."""
    rejected: Sequence[RejectedItem]
    conflicts: Sequence[RejectedItem] = ()
    """Items with an event id the user sent before for another event (post, type or metadata):
    not stored."""


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: HealthState
    timestamp: datetime
    model_version: str | None
    model_loaded: bool
    database_ok: bool
    database_error: str | None = None
    model_error: str | None = None
    # The first load of the active model has not finished: not ready for traffic yet.
    model_loading: bool = False
