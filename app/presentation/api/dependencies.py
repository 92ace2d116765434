"""One-line getters over the container kept in lifespan state; tests override them.

They are `async def` because they never block: FastAPI runs a plain `def` dependency in its
threadpool, a thread hop per dependency per request.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Header, HTTPException, Request

from app.application.use_cases.generate_recommendations import GenerateRecommendations
from app.application.use_cases.health import CheckHealth
from app.application.use_cases.track_interactions import TrackInteractions
from app.bootstrap import Container


def get_container(request: Request) -> Container:
    container: Container = request.state.container
    return container


async def get_generate(request: Request) -> GenerateRecommendations:
    return get_container(request).generate


async def get_track(request: Request) -> TrackInteractions:
    return get_container(request).track


async def get_health(request: Request) -> CheckHealth:
    return get_container(request).health


async def require_api_key(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """When ML_SERVICE_API_KEY is set, X-API-Key (or Authorization: Bearer) must match it."""
    expected = get_container(request).settings.api_key
    if not expected:
        return
    given = x_api_key or (
        authorization[7:] if authorization and authorization.startswith("Bearer ") else None
    )
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header")
