"""Scheduled retraining: the latest interactions from the database → train → gate → precompute.

    uv run python -m training.retrain                 # once (cron: 0 3 * * *)
    uv run python -m training.retrain --every 86400   # loop, for a compose service

A failed or rejected run leaves the active model as it was and says why (exit code 1). A
running service picks up a promoted model by itself (registry watch).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from app.infrastructure.config import Settings
from app.infrastructure.jobs import run_job
from app.shared.exceptions import MlServiceError
from training import train


def retrain_once(extra: Sequence[str]) -> int:
    settings = Settings()
    args = train.parse_arguments(["--database-url", settings.database_url, *extra])
    try:
        outcome = train.run(args, settings)
    except (OSError, ValueError, MlServiceError) as error:
        print(f"retraining failed, the active model is unchanged: {error}", file=sys.stderr)
        return 1
    if not outcome.decision.promote:
        reason = outcome.decision.reason
        print(f"model {outcome.entry.version} rejected, the active model is unchanged: {reason}")
        return 1
    print(
        f"model {outcome.entry.version} promoted ({outcome.decision.reason}); "
        f"precomputed {outcome.precomputed_users} users"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--every", type=float, default=0, help="seconds between runs; 0 runs once")
    args, extra = parser.parse_known_args(argv)
    while True:
        code = retrain_once(extra)
        if args.every <= 0:
            return code
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(run_job("retrain", main))
