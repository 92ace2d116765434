"""The FastAPI application: `uvicorn app.main:app`. Nothing is connected or loaded at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.presentation.api.dependencies import require_api_key
from app.presentation.api.errors import register_error_handlers
from app.presentation.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.presentation.api.routers import health, interactions, recommendations
from app.shared.logging import configure_logging


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        configure_logging(settings.log_level, settings.log_json)
        active = container or build_container(settings)
        # Handlers run in anyio's thread pool; past this many, requests queue for a thread.
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        active.start()
        try:
            yield {"container": active}
        finally:
            active.close()

    app = FastAPI(
        title="ml-service",
        version="0.1.0",
        summary="Personalized feed recommendations",
        lifespan=lifespan,
    )
    register_error_handlers(app)
    protected = [Depends(require_api_key)]
    app.include_router(recommendations.router, dependencies=protected)
    app.include_router(interactions.router, dependencies=protected)
    app.include_router(health.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


app = create_app()
