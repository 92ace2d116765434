#!/usr/bin/env bash
# Train from the database (DATABASE_URL, else the embedded SQLite file), evaluate, register,
# promote through the gate and precompute. Arguments go to `python -m training.train`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv run python -m training.train "$@"
