"""Schema migrations through Alembic, callable from code (seeder, tests, the demo command)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from app.infrastructure.config import PROJECT_ROOT
from app.infrastructure.db.engine import ensure_sqlite_directory, normalise_url


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = normalise_url(database_url)
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    """Create or migrate the schema to the newest revision (idempotent)."""
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), "head")


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")


# Children first; service_meta stays (migration 0004 gives the database a new id).
_TABLES = (
    "served_list",
    "deleted_post",
    "user_recommendation",
    "user_interaction",
    "posts",
    "users",
    "alembic_version",
)


def reset(database_url: str) -> None:
    """Drop every table of the schema (data included) and migrate again from scratch."""
    ensure_sqlite_directory(database_url)
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            tables = (
                "served_list",
                "deleted_post",
                "user_recommendation",
                "user_interaction",
                "posts",
                "users",
            )
            for table in (*tables, "alembic_version"):
                if table in existing:
                    conn.execute(text(f'DROP TABLE "{table}"'))
    finally:
        engine.dispose()
    upgrade_to_head(database_url)


def current_revision(database_url: str) -> str | None:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
