"""The service's OpenAPI document, as the TypeScript client's types are generated from it.

uv run python -m cli.openapi > clients/typescript/openapi.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from app.infrastructure.config import Settings
from app.main import create_app


def document() -> dict[str, Any]:
    """The document a service with an API key serves (the key's schemes included)."""
    return create_app(Settings(api_key="documented")).openapi()


def main() -> int:
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
