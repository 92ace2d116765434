"""One-line getters over the container kept in lifespan state; tests override them.

They are `async def` because they never block: FastAPI runs a plain `def` dependency in its
threadpool, a thread hop per dependency per request.
"""

from __future__ import annotations

from fastapi import Request

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
