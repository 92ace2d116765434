"""The FastAPI application: `uvicorn --factory app.main:create_app --http HTTP_PROTOCOL` (as
`ml-service serve` runs it). Nothing is built, connected or loaded at import time."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.presentation.api.errors import register_error_handlers
from app.presentation.api.middleware import (
    ApiKeyMiddleware,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
)
from app.presentation.api.routers import catalogue, health, interactions, recommendations
from app.runtime import Runtime
from app.shared.logging import configure_logging

logger = logging.getLogger(__name__)

# The request head and read-time limits uvicorn's own protocols lack (app/presentation/http_protocol.py).
HTTP_PROTOCOL = "app.presentation.http_protocol:LimitedHttpProtocol"
# Open with an API key set: probes and the Prometheus scrape carry no key.
OPEN_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})
# FastAPIOffline's pages, their schema and their scripts: a browser opens them.
DOCS = ("/docs", "/redoc", "/openapi.json", "/static-offline-docs/")


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        configure_logging(settings.log_level, settings.log_json)
        if HTTP_PROTOCOL.split(":")[0] not in sys.modules:
            logger.warning(
                "started without --http %s: request heads are unbounded and slow clients never time out",
                HTTP_PROTOCOL,
            )
        active = container or build_container(settings)
        # Rankings run in anyio's thread pool; past this many, requests queue for a thread.
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        runtime = Runtime(active)
        await runtime.start()
        try:
            yield {"container": active}
        finally:
            await runtime.stop()

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the service, not a CDN.
    app = FastAPIOffline(
        title="ml-service",
        version="0.1.0",
        summary="Personalized feed recommendations",
        lifespan=lifespan,
        # Observability is Prometheus (/metrics) and JSON logs. FastAPI's OpenTelemetry hooks
        # otherwise ask the global providers whether they are configured on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Starlette builds a trailing-slash redirect's Location from the Host header; a path
        # with a stray slash is a 404 instead of a redirect to wherever Host says.
        redirect_slashes=False,
    )
    register_error_handlers(app)
    app.include_router(recommendations.router)
    app.include_router(interactions.router)
    app.include_router(catalogue.users)
    app.include_router(catalogue.posts)
    app.include_router(health.router)
    if settings.api_key:
        # Innermost, so that CORS answers preflights (which carry no key) and decorates a 401.
        app.add_middleware(
            ApiKeyMiddleware,
            key=settings.api_key,
            open_paths=OPEN_PATHS,
            docs=DOCS,
            docs_public=settings.docs_public,
        )
        _document_api_key(app)
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


def _document_api_key(app: FastAPI) -> None:
    """Shows the key in /docs: a security scheme on every operation but the open ones."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            }
            for path, operations in schema["paths"].items():
                if path not in OPEN_PATHS:
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
