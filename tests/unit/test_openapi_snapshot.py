"""The TypeScript client's copy of the OpenAPI document is the one the service serves."""

from __future__ import annotations

import json

from app.infrastructure.config import PROJECT_ROOT
from cli.openapi import document

SNAPSHOT = PROJECT_ROOT / "clients" / "typescript" / "openapi.json"


def test_the_clients_openapi_document_is_current() -> None:
    stale = json.loads(SNAPSHOT.read_text()) != document()
    assert not stale, "regenerate it: uv run python -m cli.openapi > clients/typescript/openapi.json"
