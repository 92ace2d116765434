"""uvicorn's httptools protocol with the limits it lacks, so that a client costs a bounded amount
before the application sees its request:

- a request target over `max_header_bytes` gets 414, and a head (target, header names and values)
  over it 431, answered within a read of reaching the limit and never buffered whole (httptools
  itself lets one header grow without end, and copies it on every read);
- more than `max_header_count` header fields get 431 at the first one too many;
- a new connection must send its request head within `header_timeout_seconds`, and so must a
  keep-alive connection once it starts one (between requests, uvicorn's keep-alive timeout holds);
  a body must arrive within `header_timeout_seconds + max_body_bytes / min_body_bytes_per_second`.
  A late head or body gets 408 and the connection is closed.

Every start command passes it to uvicorn (`ml-service serve` does, `uvicorn --factory
app.main:create_app --http app.presentation.http_protocol:LimitedHttpProtocol` otherwise). The limits
come from the settings in the app's lifespan state (`create_app` puts the container there), read
once per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.infrastructure.config import Settings
from app.presentation.api.errors import error_body
from app.shared.logging import new_request_id

logger = logging.getLogger("app.http")

IDLE, HEAD, BODY = 0, 1, 2  # where the parser is in the current request


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_head_bytes: int = 65_536
    max_headers: int = 100
    head_timeout: float = 10.0
    body_timeout: float = 26.0

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_head_bytes=settings.max_header_bytes,
            max_headers=settings.max_header_count,
            head_timeout=settings.header_timeout_seconds,
            body_timeout=settings.header_timeout_seconds
            + settings.max_body_bytes / settings.min_body_bytes_per_second,
        )


class HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing and feed_data raises."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class LimitedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        container = app_state.get("container")
        self.limits = HttpLimits.of(container.settings) if container is not None else HttpLimits()
        # Read once per header: plain attributes, not self.limits.<field>.
        self._max_head_bytes = self.limits.max_head_bytes
        self._max_headers = self.limits.max_headers
        self._phase = IDLE
        self._head_size = 0  # of the target, names and values the parser has handed over
        self._head_read = 0  # of the reads that were all head (the parser holds a header in the making)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.head_timeout)  # a connection that never sends a request is closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        within_head = self._phase == HEAD
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, HeadTooLarge):
                self._refuse(error.__context__)
                return
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._disarm()  # the connection is the WebSocket protocol's from here
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._phase == HEAD:
            if within_head:
                self._head_read += len(data)
                if self._head_read > self._max_head_bytes:
                    self._refuse(self._too_large())
                    return
            if self._deadline is None:
                self._arm(self.limits.head_timeout)
        elif self._phase == BODY and self._deadline is None:
            self._arm(self.limits.body_timeout)

    # Parser callbacks, each after uvicorn's own

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = HEAD
        self._head_size = self._head_read = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)
        if self._head_size > self._max_head_bytes:
            detail = f"the request target is over {self._max_head_bytes} bytes"
            raise HeadTooLarge(414, "uri_too_long", detail)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_size += len(name) + len(value)
        if self._head_size > self._max_head_bytes or len(self.headers) > self._max_headers:
            raise self._too_large()

    def on_headers_complete(self) -> None:
        self._phase = BODY
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = IDLE
        self._disarm()

    # Limits

    def _too_large(self) -> HeadTooLarge:
        if len(self.headers) > self._max_headers:
            detail = f"more than {self._max_headers} header fields"
        else:
            detail = f"the request line and headers are over {self._max_head_bytes} bytes"
        return HeadTooLarge(431, "request_header_fields_too_large", detail)

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server stopped reading (a body not yet consumed, a pipelined request waiting):
            # the client is not late.
            self._arm(self.limits.body_timeout)
            return
        if self._phase == IDLE:
            self.transport.close()  # connected, and never sent a byte
            return
        phase = "headers" if self._phase == HEAD else "body"
        seconds = self.limits.head_timeout if self._phase == HEAD else self.limits.body_timeout
        self._refuse(HeadTooLarge(408, "request_timeout", f"the request {phase} took over {seconds:g} s"))

    def _refuse(self, problem: HeadTooLarge) -> None:
        """Answers `problem`, unless the application already answers this request, and closes the
        connection. A response under way to an earlier, pipelined request is let finish first."""
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        if self._phase != BODY and busy:
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        rid = new_request_id()
        if self._phase != BODY or not cycle.response_started:
            self.transport.write(self._answer(problem, rid))
        self.transport.close()
        if busy:
            # The application waiting for this body reads a disconnect; its answer goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        extra = {"request_id": rid, "status": problem.status}
        logger.warning("%d to %s: %s", problem.status, client, problem.detail, extra=extra)

    def _answer(self, problem: HeadTooLarge, rid: str) -> bytes:
        body = json.dumps(error_body(problem.error, problem.detail, rid)).encode()
        content = [STATUS_LINE[problem.status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"x-request-id: %s\r\n" % rid.encode(),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        return b"".join(content)

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)
