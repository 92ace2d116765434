"""Responses serialised once, by the schema that documents them.

FastAPI validates a plain return value against `response_model` again, and for a `def`
endpoint it does so in a second trip through the thread pool, where under load the request
queues a second time. Our handlers build their schema objects themselves and return them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Response
from pydantic import BaseModel
from pydantic_core import to_json


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")


def json_document(body: Mapping[str, Any], status_code: int = 200) -> Response:
    """A response built from plain values the route's `response_model` documents, serialised by
    the same encoder without building a model per item (a third of the time, byte for byte the
    same JSON; docs/decisions.md)."""
    return Response(to_json(body), status_code=status_code, media_type="application/json")
