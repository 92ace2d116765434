"""Every failure becomes JSON {"error", "detail"}; domain errors are mapped to statuses once, here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.shared.exceptions import (
    Conflict,
    InvalidInput,
    ModelUnavailable,
    NotFoundError,
    StorageUnavailable,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (StorageUnavailable, 503, "storage_unavailable"),
    (ModelUnavailable, 503, "model_unavailable"),
)


def error_body(error: str, detail: Any = None) -> dict[str, Any]:
    return {"error": error, "detail": detail}


# The track endpoint's single-or-batch tags are not field names, so they are not shown.
UNION_TAGS = frozenset({"single", "batch"})


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors as [{"field": "body.limit", "message": ...}]: the field named, no internals."""
    return [_field_error(e) for e in errors]


def _field_error(e: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(part for part in e.get("loc", ()) if part not in UNION_TAGS)
    message = e.get("msg", "")
    if e.get("type") == "json_invalid":
        # FastAPI puts the character offset into loc: it is not a field, the body as a whole is bad.
        position = loc[1] if len(loc) > 1 else None
        reason = (e.get("ctx") or {}).get("error")
        message = f"{message} at character {position}: {reason}" if reason else message
        loc = loc[:1]
    return {"field": ".".join(str(part) for part in loc), "message": message, "type": e.get("type")}


def register_error_handlers(app: FastAPI) -> None:
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("validation_error", field_errors(exc.errors())), status_code=422)

    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }
        return JSONResponse(
            error_body(name.get(exc.status_code, "http_error"), exc.detail),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        for kind, status, name in STATUS_BY_ERROR:
            if isinstance(exc, kind):
                headers = {"Retry-After": "5"} if status == 503 else None
                return JSONResponse(error_body(name, str(exc)), status_code=status, headers=headers)
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("internal_error", "unexpected error; see the service log"), status_code=500
        )

    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    # Our own errors go to Starlette's ExceptionMiddleware, inside the request-context middleware, so
    # they keep the request id and their status in metrics; a handler for bare Exception only runs in
    # ServerErrorMiddleware, which re-raises afterwards and makes the server log a crash.
    for kind, _, _ in STATUS_BY_ERROR:
        app.add_exception_handler(kind, domain_error)
    app.add_exception_handler(Exception, domain_error)
