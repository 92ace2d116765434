from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.application.dto import HealthState
from app.application.use_cases.health import CheckHealth
from app.presentation.api.dependencies import get_health
from app.presentation.api.errors import public_summary
from app.presentation.api.responses import json_response
from app.presentation.api.schemas import DatabaseHealth, HealthResponse
from app.shared import metrics

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
Health = Annotated[CheckHealth, Depends(get_health)]


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def health(use_case: Health) -> Response:
    """healthy; degraded (no model: cold start only); unhealthy (no database: 503)."""
    report = await use_case.execute()
    if report.database_error:
        logger.warning("health: %s", report.database_error)
    # What is wrong, without the driver's text or paths: this page is open to anyone.
    body = HealthResponse(
        status=report.status.value,
        timestamp=report.timestamp,
        model_version=report.model_version,
        model_loaded=report.model_loaded,
        database=DatabaseHealth(ok=report.database_ok, error=public_summary(report.database_error)),
        model_error=public_summary(report.model_error),
    )
    status = 503 if report.status is HealthState.UNHEALTHY else 200
    return json_response(body, status_code=status)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers: restart it only when this fails."""
    return {"status": "alive"}


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]


@router.get("/health/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
async def ready(use_case: Health) -> JSONResponse:
    """Ready for traffic when the database answers (without a model it serves cold start)."""
    report = await use_case.execute()
    ok = report.database_ok and not report.model_loading
    return JSONResponse({"status": "ready" if ok else "not_ready"}, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
