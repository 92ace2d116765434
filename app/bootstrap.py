"""The composition root: turns Settings into concrete adapters and use cases. Nothing else wires."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.application.use_cases.generate_recommendations import GenerateRecommendations, RankingPolicy
from app.application.use_cases.health import CheckHealth
from app.application.use_cases.maintenance import DeleteExpiredRecommendations
from app.application.use_cases.track_interactions import TrackInteractions
from app.application.use_cases.trending import TrendingPosts
from app.domain.ports import Clock
from app.infrastructure.clock import SystemClock
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import build_engine, normalise_url
from app.infrastructure.db.event_loop import (
    AsyncpgInteractionWrites,
    AsyncpgKeptListReads,
    AsyncpgPool,
    asyncpg_dsn,
)
from app.infrastructure.db.identity import describe_database, read_database_id
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.recommendation_writer import BackgroundRecommendationWriter
from app.infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork, translate
from app.infrastructure.ml.model_loader import ModelHolder, RegistryModelStore
from app.infrastructure.ml.registry import DataSource, ModelRegistry
from app.infrastructure.recent_lists import RecentLists
from app.shared import metrics

logger = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    engines: tuple[Engine, ...]
    models: ModelHolder
    writer: BackgroundRecommendationWriter
    generate: GenerateRecommendations
    track: TrackInteractions
    health: CheckHealth
    cleanup: DeleteExpiredRecommendations
    event_loop_pools: tuple[AsyncpgPool, ...] = ()
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Load the active model and start the background loops (registry watch, TTL cleanup)."""
        self._refresh_model()
        self._every(self.settings.model.reload_interval_seconds, self._refresh_model, "model-watch")
        self._every(self.settings.cleanup_interval_seconds, self._cleanup, "ttl-cleanup")

    async def open_event_loop_pools(self) -> None:
        """Opens the event loop's pools (in the loop that will use them, so not in `start`)."""
        for pool in self.event_loop_pools:
            await pool.open()

    async def close_event_loop_pools(self) -> None:
        for pool in self.event_loop_pools:
            await pool.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.writer.close()
        for engine in self.engines:
            engine.dispose()
        metrics.forget_this_process()

    def _every(self, seconds: float, job: Callable[[], None], name: str) -> None:
        if seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    job()
                except Exception:  # a background loop must outlive any one failure
                    logger.exception("background job %s failed; retrying next interval", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _refresh_model(self) -> None:
        before = self.models.current()
        previous = before.version if before else None
        self.models.refresh()
        after = self.models.current()
        if after is not before:
            del before  # the old model must be garbage before the collection below
            _freeze_long_lived_objects()
        metrics.set_model_version(previous, after.version if after else None)

    def _cleanup(self) -> None:
        deleted = self.cleanup.execute()
        if deleted:
            logger.info("deleted expired recommendations", extra={"rows": deleted})


def _freeze_long_lived_objects() -> None:
    """Takes the loaded model out of the garbage collector's sight.

    A model is a quarter of a million objects that live until the next swap; every full
    collection walked them all (140 ms, stalling each request in flight). The previous model's
    objects are unfrozen and collected first, so a reload leaks nothing.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    if settings.auto_migrate and normalise_url(settings.database_url).startswith("sqlite"):
        upgrade_to_head(settings.database_url)

    def engine_for(*, autocommit: bool) -> Engine:
        return build_engine(
            settings.database_url,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            pool_size=settings.db_pool_size,
            autocommit=autocommit,
        )

    engine = engine_for(autocommit=False)
    # Reads need no transaction: at READ COMMITTED each statement takes its own snapshot anyway.
    read_engine = engine_for(autocommit=True)

    def uow_factory() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine)

    def read_uow_factory() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(read_engine)

    # Stored lists are a cache: their commits need not wait for the disk.
    writer = BackgroundRecommendationWriter(lambda: SqlAlchemyUnitOfWork(engine, durable=False))

    def probe() -> None:
        try:
            with read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            raise translate(error) from error

    def own_database() -> DataSource:
        return DataSource("database", read_database_id(engine), describe_database(settings.database_url))

    # Only models trained on this database are served; its id is read on the first poll that reaches it.
    models = ModelHolder(RegistryModelStore(ModelRegistry(settings.model.models_dir), own_database))
    weights = settings.weights.as_dict()
    trending = TrendingPosts(
        read_uow_factory,
        clock,
        weights=weights,
        window=timedelta(hours=settings.trending_window_hours),
        cache_seconds=settings.trending_cache_seconds,
    )
    policy = RankingPolicy(
        ttl=timedelta(seconds=settings.recommendation_ttl_seconds), top_n=settings.precompute_top_n
    )
    recent = RecentLists(settings.list_memory_users)
    dsn = asyncpg_dsn(settings.database_url)

    def event_loop_pool() -> AsyncpgPool | None:
        if dsn is None:  # the embedded database: every request takes the threadpool path
            return None
        return AsyncpgPool(
            dsn,
            pool_size=settings.db_async_pool_size,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )

    # Feed reads and tracking writes each have a pool: a burst of batches, each holding a
    # connection for milliseconds, never makes a feed page wait for one.
    reads_pool, writes_pool = event_loop_pool(), event_loop_pool()
    kept_reads = AsyncpgKeptListReads(reads_pool) if reads_pool else None
    return Container(
        settings=settings,
        engines=(engine, read_engine),
        models=models,
        writer=writer,
        generate=GenerateRecommendations(
            read_uow_factory, models, trending, writer, recent, clock, policy, kept_reads=kept_reads
        ),
        track=TrackInteractions(
            uow_factory, clock, AsyncpgInteractionWrites(writes_pool) if writes_pool else None
        ),
        health=CheckHealth(probe, models, clock),
        cleanup=DeleteExpiredRecommendations(uow_factory, clock),
        event_loop_pools=tuple(p for p in (reads_pool, writes_pool) if p),
    )
