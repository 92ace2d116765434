#!/usr/bin/env bash
# Development server with reload on http://127.0.0.1:8000. Settings read .env from the
# repository root by themselves (see .env.example); extra arguments go to uvicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv run uvicorn --factory app.main:create_app --http app.presentation.http_protocol:LimitedHttpProtocol \
    --reload --reload-dir app --host 127.0.0.1 --port 8000 "$@"
