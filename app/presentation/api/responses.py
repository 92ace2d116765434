"""Responses serialised once, by the schema that documents them.

FastAPI validates a plain return value against `response_model` again, and for a `def`
endpoint it does so in a second trip through the thread pool, where under load the request
queues a second time. Our handlers build their schema objects themselves and return them here.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
