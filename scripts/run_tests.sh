#!/usr/bin/env bash
# The README's test command; arguments go to pytest (e.g. scripts/run_tests.sh tests/unit -q).
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv run pytest "$@"
