"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): request id, access log, HTTP metrics,
the service API key, and a request body size limit."""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.presentation.api.errors import error_body
from app.shared import metrics
from app.shared.logging import request_id

logger = logging.getLogger("app.access")


class RequestContextMiddleware:
    """Assigns a request id (or keeps the caller's X-Request-ID), logs and measures each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        # Unique, not secret: no system call per request, as uuid4 would make.
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or f"{random.getrandbits(128):032x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", rid.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
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
    """Requests under `protected` paths must carry the key in X-API-Key or as a Bearer token.

    Checked here rather than as a FastAPI dependency, which validated both headers with pydantic
    on every request (docs/decisions.md).
    """

    def __init__(self, app: ASGIApp, key: str, protected: tuple[str, ...]) -> None:
        self.app = app
        self.key = key.encode()
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.protected):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-api-key")
        if given is None:
            authorization = headers.get(b"authorization", b"")
            given = authorization[7:] if authorization.startswith(b"Bearer ") else None
        if given is None or not secrets.compare_digest(given, self.key):
            detail = "missing or wrong API key: send it in the X-API-Key header"
            await send_json(send, 401, error_body("unauthorized", detail))
            return
        await self.app(scope, receive, send)


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
