"""The one-command demo: every step reuses what a previous run left behind."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from app.infrastructure.config import PROJECT_ROOT, Settings
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.orm import InteractionRow, PostRow
from app.infrastructure.ml.registry import ModelRegistry
from training.sources import database_source

# ML_DEMO_DATA moves it (the TypeScript client's tests run a demo of their own).
DEMO_DATA = Path(os.environ.get("ML_DEMO_DATA") or PROJECT_ROOT / "data" / "demo" / "interactions.json")


def say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    settings = Settings()
    url = settings.database_url
    if not args.no_serve and not _port_free(args.host, args.port):
        say(f"port {args.port} on {args.host} is taken (another demo?): stop it, or pass --port")
        return 1
    if not DEMO_DATA.exists():
        shown = DEMO_DATA.relative_to(PROJECT_ROOT) if DEMO_DATA.is_relative_to(PROJECT_ROOT) else DEMO_DATA
        say(f"generating demo data into {shown}")
        from data.generate_fake_data import main as generate

        generate(
            [
                "--users",
                str(args.users),
                "--posts",
                str(args.posts),
                "--interactions",
                str(args.interactions),
                "--output",
                str(DEMO_DATA),
            ]
        )
    upgrade_to_head(url)
    if _interaction_count(url) == 0:
        say("seeding the database")
        from data.seed_database import main as seed

        if seed(["--input", str(DEMO_DATA), "--database-url", url]) != 0:
            return 1
    if ModelRegistry(settings.model.models_dir).active_for(database_source(url)) is None:
        say("training and promoting a model")
        from training.train import main as train

        if train(["--database-url", url]) != 0:
            return 1
    user = _sample_user(url)
    _print_welcome(args.host, args.port, user)
    if args.no_serve:
        return 0
    from cli.serve import serve

    serve(args.host, args.port, workers=1, reload=False)
    return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _interaction_count(url: str) -> int:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(InteractionRow)).scalar_one()
    engine.dispose()
    return int(count)


def _sample_user(url: str) -> str:
    """The most active user who also wrote posts: their feed shows every rule at work."""
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        authors = select(PostRow.author_id)
        stmt = (
            select(InteractionRow.user_id)
            .where(InteractionRow.user_id.in_(authors))
            .group_by(InteractionRow.user_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        user = conn.execute(stmt).scalar_one()
    engine.dispose()
    return str(user)


def _print_welcome(host: str, port: int, user: str) -> None:
    base = f"http://{host}:{port}"
    print(
        f"""
ml-service demo is ready.

  API docs     {base}/docs
  health       {base}/health
  sample user  {user}

  curl -s -X POST {base}/recommendations/generate \\
       -H 'content-type: application/json' \\
       -d '{{"user_id": "{user}", "limit": 5}}'
""",
        flush=True,
    )
