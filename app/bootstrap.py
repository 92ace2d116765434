"""The composition root: turns Settings into concrete adapters and use cases. Nothing else wires,
and nothing here starts, connects or loads (app/runtime.py does, in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.application.use_cases.catalogue import DeletePost, EraseUser, UpsertPosts, UpsertUser
from app.application.use_cases.generate_recommendations import GenerateRecommendations, RankingPolicy
from app.application.use_cases.health import CheckHealth
from app.application.use_cases.maintenance import DeleteExpiredRecommendations
from app.application.use_cases.track_interactions import TrackInteractions
from app.application.use_cases.trending import TrendingPosts
from app.domain.ports import Clock
from app.infrastructure.clock import SystemClock
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.identity import describe_database
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.stored_list_writer import BackgroundListWriter
from app.infrastructure.db.stores import DatabaseTimeouts, Stores, open_stores
from app.infrastructure.kept_lists import InMemoryKeptLists, InMemoryKeptServedLists
from app.infrastructure.ml.model_loader import ModelHolder, RegistryModelStore
from app.infrastructure.ml.registry import DataSource, ModelRegistry
from app.shared.exceptions import StorageUnavailable


class OwnDatabase:
    """Which database this service serves, as the model registry names data sources. The runtime
    reads the id; until it has, no model can be chosen."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.source: DataSource | None = None

    def know(self, database_id: str) -> None:
        self.source = DataSource("database", database_id, self.description)

    def __call__(self) -> DataSource:
        if self.source is None:
            raise StorageUnavailable("the database's id has not been read yet")
        return self.source


@dataclass
class Container:
    settings: Settings
    stores: Stores
    own_database: OwnDatabase
    models: ModelHolder
    writer: BackgroundListWriter
    kept: InMemoryKeptLists
    generate: GenerateRecommendations
    track: TrackInteractions
    health: CheckHealth
    cleanup: DeleteExpiredRecommendations
    upsert_user: UpsertUser
    upsert_posts: UpsertPosts
    delete_post: DeletePost
    erase_user: EraseUser
    clock: Clock


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    if settings.auto_migrate and normalise_url(settings.database_url).startswith("sqlite"):
        upgrade_to_head(settings.database_url)
    stores = open_stores(
        settings.database_url,
        DatabaseTimeouts(
            connect_seconds=settings.db_connect_timeout_seconds,
            statement_ms=settings.db_statement_timeout_ms,
            pool_size=settings.db_pool_size,
        ),
    )
    own_database = OwnDatabase(describe_database(settings.database_url))
    # Only models trained on this database are served.
    models = ModelHolder(RegistryModelStore(ModelRegistry(settings.model.models_dir), own_database))
    writer = BackgroundListWriter(stores.lists, stores.served)
    kept = InMemoryKeptLists(settings.kept_lists)
    kept_served = InMemoryKeptServedLists(settings.kept_lists)
    trending = TrendingPosts(
        stores.interactions,
        clock,
        weights=settings.weights.as_dict(),
        window=timedelta(hours=settings.trending_window_hours),
        cache_seconds=settings.trending_cache_seconds,
    )
    policy = RankingPolicy(
        ttl=timedelta(seconds=settings.recommendation_ttl_seconds),
        top_n=settings.precompute_top_n,
        cursor_ttl=timedelta(seconds=settings.cursor_ttl_seconds),
    )
    return Container(
        settings=settings,
        stores=stores,
        own_database=own_database,
        models=models,
        writer=writer,
        kept=kept,
        generate=GenerateRecommendations(
            posts=stores.posts,
            interactions=stores.interactions,
            lists=stores.lists,
            served=stores.served,
            writer=writer,
            kept=kept,
            kept_served=kept_served,
            models=models,
            trending=trending,
            clock=clock,
            policy=policy,
        ),
        track=TrackInteractions(
            interactions=stores.interactions, users=stores.users, posts=stores.posts, clock=clock
        ),
        health=CheckHealth(
            stores.ping, models, clock, wait=timedelta(milliseconds=settings.db_health_timeout_ms)
        ),
        cleanup=DeleteExpiredRecommendations(
            stores.lists, stores.served, stores.posts, clock, keep=policy.keep
        ),
        upsert_user=UpsertUser(stores.users),
        upsert_posts=UpsertPosts(stores.posts),
        delete_post=DeletePost(stores.posts, clock),
        erase_user=EraseUser(stores.users, clock),
        clock=clock,
    )
