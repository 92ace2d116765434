"""Structured logging: one JSON object per line, carrying the request id of the current request."""

from __future__ import annotations

import contextvars
import json
import logging
import random
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    """Unique, not secret: no system call per request, as uuid4 would make."""
    return f"{random.getrandbits(128):032x}"


_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


_ENCODER = json.JSONEncoder(default=str)  # json.dumps(default=...) builds an encoder per call


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(level: str = "INFO", json_format: bool = True) -> None:
    """Route every logger (uvicorn's included) through one stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Fields no formatter here prints; each costs a lookup per record (the caller's frame, the
    # thread, the process), and the access log writes a record per request.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The access middleware logs each request with its id; uvicorn's own access log would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
