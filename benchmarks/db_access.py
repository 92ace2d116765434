"""Database access cost: the read a stored page makes, through each way the service could reach
PostgreSQL. The figure that decides is the worker's CPU per call: at saturation it sets req/s.

    uv run python -m benchmarks.db_access [--calls 2000] [--rounds 5]

Creates a throwaway database (dropped afterwards) with one user's history and stored list, then
runs the same statement, one call at a time, through
- the service's way: asyncpg on the event loop through `PostgresPool` (the reference);
- SQLAlchemy's asyncio engine over asyncpg (a pooled connection and `execute` per call);
- SQLAlchemy's engine over psycopg2 in a worker thread (the previous threadpool path).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from anyio import to_thread
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.domain.entities import RankedPosts, Reason, Recommendation, StoredList
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.stores import connected
from benchmarks.serving import DEFAULT_ADMIN_URL, autocommit

# The stored page's read (app/infrastructure/db/stored_lists.py), with named parameters.
CHECK = text(
    "SELECT (SELECT string_agg(replace(post_id::text, '-', ''), ',') FROM user_interaction"
    " WHERE user_id = :user_id),"
    " (SELECT generated_at FROM user_recommendation"
    " WHERE user_id = :user_id AND model_version = :version AND expires_at > :now LIMIT 1)"
)
POOL_SIZE = 4


async def seed(url: str, user: uuid.UUID, now: datetime) -> RankedPosts:
    engine = create_engine(normalise_url(url))
    posts = [uuid.uuid4() for _ in range(300)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, follower_count, created_at)"
                " VALUES (:id, 'u', 'u', 0, :now)"
            ),
            {"id": user, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO posts (id, author_id, content, hashtags, created_at)"
                " VALUES (:id, :author, 'x', '[]', :now)"
            ),
            [{"id": p, "author": user, "now": now} for p in posts],
        )
        conn.execute(
            text(
                "INSERT INTO user_interaction (id, user_id, post_id, interaction_type, created_at)"
                " VALUES (:id, :user, :post, 'view', :now)"
            ),
            [{"id": uuid.uuid4(), "user": user, "post": p, "now": now} for p in posts[:90]],
        )
    engine.dispose()
    listed = RankedPosts(Recommendation(p, 0.5, Reason.COLLABORATIVE_FILTERING) for p in posts[100:300])
    async with connected(url) as stores:
        await stores.lists.store([StoredList(user, "v1", now, now + timedelta(hours=1), listed)])
    return listed


async def measure(call: Callable[[], Awaitable[object]], calls: int, rounds: int) -> tuple[float, float]:
    """Median over rounds of (wall µs, process CPU µs) per call."""
    for _ in range(min(500, calls)):
        await call()
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await call()
        walls.append((time.perf_counter() - wall) / calls * 1e6)
        cpus.append((time.process_time() - cpu) / calls * 1e6)
    return statistics.median(walls), statistics.median(cpus)


async def run(url: str, calls: int, rounds: int) -> list[tuple[str, float, float]]:
    user, now = uuid.uuid4(), datetime.now(UTC)
    listed = await seed(url, user, now)
    params = {"user_id": user, "version": "v1", "now": now}
    results = []
    async with connected(url) as stores:
        results.append(
            (
                "asyncpg, PostgresPool (the service)",
                *await measure(lambda: stores.lists.check(user, "v1", now, listed), calls, rounds),
            )
        )
    async_url = make_url(normalise_url(url)).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(
        async_url, pool_size=POOL_SIZE, isolation_level="AUTOCOMMIT", pool_reset_on_return=None
    )

    async def sqlalchemy_asyncio() -> object:
        async with engine.connect() as conn:
            return (await conn.execute(CHECK, params)).one()

    results.append(("SQLAlchemy asyncio over asyncpg", *await measure(sqlalchemy_asyncio, calls, rounds)))
    await engine.dispose()
    sync = create_engine(normalise_url(url), pool_size=POOL_SIZE, isolation_level="AUTOCOMMIT")

    def read() -> object:
        with sync.connect() as conn:
            return conn.execute(CHECK, params).one()

    async def threadpool() -> object:
        return await to_thread.run_sync(read)

    results.append(("SQLAlchemy + psycopg2 in a thread", *await measure(threadpool, calls, rounds)))
    sync.dispose()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    name = f"ml_bench_db_{uuid.uuid4().hex[:8]}"
    autocommit(args.admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(normalise_url(args.admin_url)).set(database=name).render_as_string(hide_password=False)
        upgrade_to_head(url)
        results = asyncio.run(run(url, args.calls, args.rounds))
    finally:
        autocommit(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    reference_cpu = results[0][2]
    print(f"{'access':38} {'wall µs/call':>13} {'CPU µs/call':>12} {'CPU vs service':>15}")
    for label, wall, cpu in results:
        print(f"{label:38} {wall:13.0f} {cpu:12.0f} {cpu / reference_cpu:14.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
