"""Every failure becomes JSON {"error", "detail", "request_id"}; domain errors are mapped to statuses
once, here. What went wrong inside (driver text, SQL, addresses) goes to the log, under the request
id the caller is given."""

from __future__ import annotations

import logging
import re
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
from app.shared.logging import request_id

logger = logging.getLogger(__name__)
HEADLINE_END = re.compile(r"[:;] ")

STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (StorageUnavailable, 503, "storage_unavailable"),
    (ModelUnavailable, 503, "model_unavailable"),
)
# What the caller reads when the error's own text is not for them: a 503 (its text names the
# database or the model files), or an error translated from another one (a driver's refusal).
PUBLIC_DETAIL = {
    "not_found": "not found",
    "conflict": "conflicts with stored data, such as a username another user has",
    "invalid_input": "the database refused a value: it refers to nothing stored, or is out of its range",
    "storage_unavailable": "the database does not answer; retry shortly",
    "model_unavailable": "no model can be served; retry shortly",
}
INTERNAL_DETAIL = "unexpected error; the service log has it under this request id"


def error_body(error: str, detail: Any = None, rid: str | None = None) -> dict[str, Any]:
    """The ErrorResponse schema's body; `rid` defaults to the current request's id."""
    return {"error": error, "detail": detail, "request_id": rid or request_id.get() or ""}


def public_detail(name: str, status: int, exc: Exception) -> str:
    """The error's own text when we wrote it for the caller; else a fixed one, and the text is logged.

    An error raised while handling another (`raise Mapped(...) from driver_error`, as every adapter
    translates) carries that other's text, so it is never shown."""
    if status < 500 and exc.__cause__ is None and exc.__context__ is None:
        return str(exc)
    cause = exc.__cause__ or exc.__context__
    logger.warning(
        "%s: %s", name, exc, extra={"status": status, "cause": repr(cause) if cause is not None else None}
    )
    return PUBLIC_DETAIL[name]


def public_summary(text: str | None) -> str | None:
    """The headline of one of our messages, which say what happened first and why (an exception's
    text, a path) after a colon or a semicolon; /health shows the headline, the log has it all."""
    return HEADLINE_END.split(text, maxsplit=1)[0] if text else text


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


HTTP_ERROR_NAMES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: FastAPI) -> None:
    """Our errors go to Starlette's ExceptionMiddleware, inside the request-context middleware, so
    they keep the request id and their status in metrics; anything else is answered there
    (RequestContextMiddleware), as a 500 that says no more than its request id."""

    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("validation_error", field_errors(exc.errors())), status_code=422)

    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(HTTP_ERROR_NAMES.get(exc.status_code, "http_error"), exc.detail),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        for kind, status, name in STATUS_BY_ERROR:
            if isinstance(exc, kind):
                headers = {"Retry-After": "5"} if status == 503 else None
                body = error_body(name, public_detail(name, status, exc))
                return JSONResponse(body, status_code=status, headers=headers)
        raise exc  # not one of ours: RequestContextMiddleware answers it

    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    for kind, _, _ in STATUS_BY_ERROR:
        app.add_exception_handler(kind, domain_error)
