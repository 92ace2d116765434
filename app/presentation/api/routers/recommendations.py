from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from app.application.dto import GenerateRecommendationsCommand, RecommendationsResult, Source
from app.application.use_cases.generate_recommendations import GenerateRecommendations
from app.presentation.api.dependencies import get_generate
from app.presentation.api.responses import json_document
from app.presentation.api.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    GenerateRequest,
    GenerateResponse,
    LegacyRecommendationsResponse,
    decode_cursor,
    encode_cursor,
)
from app.shared import metrics
from app.shared.ids import uuid_text

router = APIRouter(prefix="/recommendations", tags=["recommendations"], responses=COMMON_ERRORS)
Generate = Annotated[GenerateRecommendations, Depends(get_generate)]


@router.get("/generate", include_in_schema=False)
async def generate_is_a_post() -> None:
    """Not a user id: the route is POST only."""
    raise HTTPException(405, "POST a JSON body to /recommendations/generate", headers={"Allow": "POST"})


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses=BODY_ERRORS,
)
async def generate(body: GenerateRequest, use_case: Generate) -> Response:
    """Ranked posts for a user's feed; unknown users get cold-start (trending) posts."""
    command = GenerateRecommendationsCommand(
        user_id=body.user_id,
        limit=body.limit,
        offset=body.offset,
        exclude_seen=body.context.exclude_seen,
        exclude_post_ids=frozenset(body.context.exclude_post_ids),
        cursor=decode_cursor(body.cursor) if body.cursor is not None else None,
    )
    result = await _measured(use_case, command)
    return json_document(
        {
            "user_id": result.user_id,
            "recommendations": _out(result),
            "metadata": {
                "total": result.total,
                "model_version": result.model_version,
                "generated_at": result.generated_at,
                "source": result.source.value,
                "recommendation_id": result.recommendation_id,
                "next_cursor": encode_cursor(result.next_cursor) if result.next_cursor else None,
                "cursor_expired": result.cursor_expired,
            },
        }
    )


@router.get("/{user_id}", response_model=LegacyRecommendationsResponse)
async def for_user(
    user_id: UUID,
    use_case: Generate,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> Response:
    """The older client's read: same ranking, a smaller envelope."""
    command = GenerateRecommendationsCommand(user_id=user_id, limit=limit, offset=offset)
    result = await _measured(use_case, command)
    return json_document({"recommendations": _out(result), "model_version": result.model_version})


async def _measured(
    use_case: GenerateRecommendations, command: GenerateRecommendationsCommand
) -> RecommendationsResult:
    started = time.perf_counter()
    result = await use_case.execute(command)
    lookup = ("hit" if result.source is Source.STORED else "miss") if command.exclude_seen else None
    seconds = time.perf_counter() - started
    metrics.observe_recommendations(str(result.source), len(result.recommendations), seconds, lookup)
    return result


def _out(result: RecommendationsResult) -> list[dict[str, object]]:
    """RecommendationOut's fields, as values (see json_document)."""
    page = result.recommendations
    # From the page's columns: no recommendation or UUID object is made per post.
    return [
        {"post_id": uuid_text(i), "score": s, "reason": r}
        for i, s, r in zip(page.ids, page.scores, page.reason_values, strict=True)
    ]
