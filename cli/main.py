"""`ml-service`: one command line for the demo, the server and every job.

uv run ml-service demo        # demo data → embedded SQLite → trained model → API on :8000
uv run ml-service serve --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

# Subcommands that hand their arguments to a module's main(argv).
PASS_THROUGH = {
    "generate": ("data.generate_fake_data", "generate synthetic users, posts and interactions"),
    "seed": ("data.seed_database", "load a generated dataset into the database"),
    "train": ("training.train", "train, evaluate, register, promote through the gate, precompute"),
    "evaluate": ("training.evaluate", "evaluate the model against baselines on a held-out split"),
    "retrain": ("training.retrain", "scheduled retraining from the database"),
    "precompute": ("training.precompute", "precompute recommendations for active users"),
    "validate": ("training.validate_model", "check the active model (the CI gate)"),
    "models": ("training.export_model", "list, promote, roll back and verify registered models"),
}


def migrate() -> int:
    from app.infrastructure.config import Settings
    from app.infrastructure.db.migrate import current_revision, upgrade_to_head

    url = Settings().database_url
    upgrade_to_head(url)
    print(f"database at revision {current_revision(url)}")
    return 0


def cleanup() -> int:
    from datetime import timedelta

    from app.application.use_cases.maintenance import DeleteExpiredRecommendations
    from app.infrastructure.clock import SystemClock
    from app.infrastructure.config import Settings
    from app.infrastructure.db.stores import connected

    settings = Settings()
    # A deleted post is remembered as long as any list that may hold it can be served.
    keep = timedelta(seconds=max(settings.recommendation_ttl_seconds, settings.cursor_ttl_seconds))

    async def run() -> int:
        async with connected(settings.database_url) as stores:
            cleanup = DeleteExpiredRecommendations(
                stores.lists, stores.served, stores.posts, SystemClock(), keep=keep
            )
            return await cleanup.execute()

    deleted = asyncio.run(run())
    print(f"deleted {deleted} expired recommendations")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="demo data, embedded database, trained model, API on :8000")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--users", type=int, default=200)
    demo.add_argument("--posts", type=int, default=1000)
    demo.add_argument("--interactions", type=int, default=20000)
    demo.add_argument("--no-serve", action="store_true", help="prepare everything, do not start the API")
    run = commands.add_parser("serve", help="run the API")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    commands.add_parser("migrate", help="create or upgrade the database schema (alembic upgrade head)")
    commands.add_parser("cleanup", help="delete expired precomputed recommendations")
    for name, (_, help_text) in PASS_THROUGH.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every command ends an error with one line and exit code 1; `--debug` shows the traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from app.infrastructure.jobs import run_job

    if argv and argv[0] in PASS_THROUGH:
        module = importlib.import_module(PASS_THROUGH[argv[0]][0])
        return run_job(argv[0], module.main, argv[1:])
    name = argv[0] if argv else "ml-service"
    return run_job(name, _command, argv)


def _command(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from cli.demo import run_demo

        return run_demo(args)
    if args.command == "serve":
        from cli.serve import serve

        serve(args.host, args.port, args.workers, args.reload)
        return 0
    if args.command == "migrate":
        return migrate()
    return cleanup()


if __name__ == "__main__":
    sys.exit(main())
