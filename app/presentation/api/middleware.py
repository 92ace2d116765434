"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): request id, access log, HTTP metrics,
the service API key, and a request body size limit."""

from __future__ import annotations

import binascii
import json
import logging
import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.presentation.api.errors import INTERNAL_DETAIL, error_body
from app.shared import metrics
from app.shared.logging import new_request_id, request_id

logger = logging.getLogger("app.access")
errors = logging.getLogger("app.errors")


class RequestContextMiddleware:
    """Assigns a request id (or keeps the caller's X-Request-ID), logs and measures each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", rid.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Here rather than in Starlette's ServerErrorMiddleware, outside this one: the answer
            # keeps the request id, and the traceback is logged once, under it.
            errors.exception("unhandled error")
            if status:
                raise  # the response is under way: the server cuts the connection
            await send_json(send_with_id, 500, error_body("internal_error", INTERNAL_DETAIL))
        finally:
            status = status or 500  # no answer at all: the server sends its own 500
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            metrics.observe_http(method, route, status, elapsed)
            if route not in ("/metrics", "/health/live"):
                logger.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={"status": status, "route": route, "duration_ms": round(elapsed * 1000, 2)},
                )
            request_id.reset(token)


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reader passes it on instead of turning it into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes; send smaller batches")


class BodySizeLimitMiddleware:
    """Answers 413 to a body over `max_bytes`, by Content-Length or while it streams in, and 415
    to a POST or PUT body declared as anything but JSON (no content type at all is read as JSON,
    as FastAPI does)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        if scope["method"] in ("POST", "PUT") and not _json(headers.get(b"content-type")):
            detail = "send the body as JSON with content-type: application/json"
            await send_json(send, 415, error_body("unsupported_media_type", detail))
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        detail = f"request body over {self.max_bytes} bytes; send smaller batches"
        await send_json(send, 413, error_body("payload_too_large", detail))


def _json(content_type: bytes | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


class ApiKeyMiddleware:
    """Every path but `open_paths` needs the key, in X-API-Key or as a Bearer token: a path added
    later is protected without anyone remembering to list it.

    The docs pages (`docs` prefixes) are opened by a browser, which cannot add a header: their 401
    asks for HTTP Basic credentials, and the key as the password (any user name) lets the browser in
    and sends it with the page's own requests (the schema, the scripts). A query parameter is never
    read: URLs end up in access logs, proxies and browser history. Checked here rather than as a
    FastAPI dependency, which validated both headers with pydantic on every request
    (docs/decisions.md).
    """

    def __init__(
        self, app: ASGIApp, key: str, open_paths: frozenset[str], docs: tuple[str, ...], docs_public: bool
    ) -> None:
        self.app = app
        self.key = key.encode()
        self.open_paths = open_paths
        self.docs = docs
        self.docs_public = docs_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(self.docs)
        if docs and self.docs_public:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-api-key")
        authorization = headers.get(b"authorization", b"")
        if given is None and authorization.startswith(b"Bearer "):
            given = authorization[7:]
        elif given is None and docs and authorization.startswith(b"Basic "):
            given = _basic_password(authorization[6:])
        if given is None or not secrets.compare_digest(given, self.key):
            detail = "missing or wrong API key: send it in the X-API-Key header"
            detail += ", or as the password the browser asks for" if docs else ""
            challenge = b'Basic realm="ml-service API docs", charset="UTF-8"' if docs else b"Bearer"
            await send_json(send, 401, error_body("unauthorized", detail), [(b"www-authenticate", challenge)])
            return
        await self.app(scope, receive, send)


def _basic_password(credentials: bytes) -> bytes | None:
    try:
        decoded = binascii.a2b_base64(credentials.strip(), strict_mode=True)
    except binascii.Error:
        return None
    _, colon, password = decoded.partition(b":")
    return password if colon else None


async def send_json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
