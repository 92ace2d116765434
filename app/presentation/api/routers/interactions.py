from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import ValidationError

from app.application.dto import InteractionInput, RejectedItem, TrackInteractionsCommand
from app.application.use_cases.track_interactions import TrackInteractions
from app.domain.entities import InteractionType
from app.presentation.api.dependencies import get_track
from app.presentation.api.errors import field_errors
from app.presentation.api.responses import json_response
from app.presentation.api.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    ErrorResponse,
    InteractionBatch,
    InteractionIn,
    RejectedOut,
    TrackBody,
    TrackResponse,
)
from app.shared import metrics
from app.shared.exceptions import Conflict, InvalidInput, NotFoundError

ONE_INTERACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "one interaction naming a post that does not exist"},
    409: {
        "model": ErrorResponse,
        "description": "one interaction whose event_id the user sent before for another event",
    },
}
router = APIRouter(
    prefix="/interactions",
    tags=["interactions"],
    responses=COMMON_ERRORS | BODY_ERRORS | ONE_INTERACTION_ERRORS,
)


@router.post("/track", status_code=202, response_model=TrackResponse)
async def track(
    body: Annotated[TrackBody, Body()],
    use_case: Annotated[TrackInteractions, Depends(get_track)],
) -> Response:
    """One interaction, or a batch of up to 500; each bad item is reported, the good ones stored."""
    result = await use_case.execute(_command(body))
    if isinstance(body, InteractionIn) and (result.rejected or result.conflicts):
        # One interaction that stores nothing is an error of the request, not a partial success.
        refused = (*result.rejected, *result.conflicts)[0]
        message = f"{refused.field}: {refused.error}" if refused.field else refused.error
        if result.conflicts:
            raise Conflict(message)
        # A post (or user) it names does not exist: 404, as for any reference to nothing.
        unknown = refused.error.startswith("unknown ")
        raise NotFoundError(message) if unknown else InvalidInput(message)
    metrics.INTERACTIONS.labels("accepted").inc(result.accepted)
    metrics.INTERACTIONS.labels("duplicate").inc(result.duplicates)
    metrics.INTERACTIONS.labels("conflict").inc(len(result.conflicts))
    metrics.INTERACTIONS.labels("rejected").inc(len(result.rejected))
    response = TrackResponse(
        accepted=result.accepted,
        duplicates=result.duplicates,
        conflicts=len(result.conflicts),
        rejected=_listed(result.rejected),
        conflicting=_listed(result.conflicts),
    )
    return json_response(response, status_code=202)


def _listed(items: Sequence[RejectedItem]) -> list[RejectedOut]:
    return [RejectedOut(index=r.index, field=r.field, error=r.error) for r in items]


def _command(body: InteractionIn | InteractionBatch) -> TrackInteractionsCommand:
    if isinstance(body, InteractionIn):
        return TrackInteractionsCommand([_input(0, body)])
    items: list[InteractionInput] = []
    rejected: list[RejectedItem] = []
    for index, raw in enumerate(body.interactions):
        try:
            items.append(_input(index, InteractionIn.model_validate(raw)))
        except ValidationError as error:
            first = field_errors(error.errors())[0]
            field = first["field"] or None  # None: the item is not an object at all
            message = f"{field}: {first['message']}" if field else first["message"]
            rejected.append(RejectedItem(index, message, field))
    return TrackInteractionsCommand(items, already_rejected=rejected)


def _input(index: int, item: InteractionIn) -> InteractionInput:
    return InteractionInput(
        index=index,
        user_id=item.user_id,
        post_id=item.post_id,
        kind=InteractionType(item.interaction_type),
        metadata=item.metadata,
        event_id=item.event_id,
        created_at=item.created_at,
    )
