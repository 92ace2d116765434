"""Precompute top-N recommendations for recently active users into user_recommendation.

uv run python -m training.precompute --limit 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select
from tqdm import tqdm

from app.application.use_cases.maintenance import PrecomputeRecommendations
from app.infrastructure.clock import SystemClock
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import build_engine
from app.infrastructure.db.orm import InteractionRow
from app.infrastructure.db.stores import connected
from app.infrastructure.jobs import run_job
from app.infrastructure.ml.model_loader import RegistryModelStore
from app.infrastructure.ml.registry import ModelRegistry
from app.shared.exceptions import MlServiceError
from training.sources import database_source


def precompute_active_users(
    database_url: str, registry: ModelRegistry, settings: Settings, *, limit: int
) -> int:
    """Stores top-N for the `limit` most recently active users with the model active for this
    database; returns users stored. Raises ValueError when there is none or the database cannot
    say its id, StorageUnavailable when it fails while storing."""
    source = database_source(database_url)
    store = RegistryModelStore(registry, lambda: source)
    version = store.active_version()
    if version is None:
        raise ValueError(f"no model trained on {source} is active: train and promote one first")
    model = store.load(version)
    engine = build_engine(database_url)
    try:
        with engine.connect() as conn:
            latest = func.max(InteractionRow.created_at)
            stmt = (
                select(InteractionRow.user_id)
                .group_by(InteractionRow.user_id)
                .order_by(latest.desc())
                .limit(limit)
            )
            users: list[uuid.UUID] = list(conn.scalars(stmt))
    finally:
        engine.dispose()

    async def run() -> int:
        async with connected(database_url) as stores:
            use_case = PrecomputeRecommendations(
                posts=stores.posts,
                interactions=stores.interactions,
                lists=stores.lists,
                model=model,
                clock=SystemClock(),
                ttl=timedelta(seconds=settings.recommendation_ttl_seconds),
                top_n=settings.precompute_top_n,
            )
            with tqdm(total=len(users), desc="precompute", file=sys.stderr) as bar:
                return await use_case.execute(users, progress=lambda n: bar.update(n))

    return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: DATABASE_URL or the embedded SQLite file")
    parser.add_argument("--limit", type=int, default=5000, help="how many recently active users")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        stored = precompute_active_users(
            args.database_url or settings.database_url,
            ModelRegistry(settings.model.models_dir),
            settings,
            limit=args.limit,
        )
    except (ValueError, MlServiceError) as error:
        print(f"precompute failed: {error}", file=sys.stderr)
        return 1
    print(f"precomputed recommendations for {stored} users")
    return 0


if __name__ == "__main__":
    sys.exit(run_job("precompute", main))
