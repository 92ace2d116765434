"""Migrations: every revision upgrades and downgrades, and head matches the ORM exactly."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from app.infrastructure.db import mappers
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import alembic_config, current_revision, downgrade_to_base, upgrade_to_head
from app.infrastructure.db.orm import INTERACTIONS, POSTS, SCHEMA_REVISION, USERS, Base
from tests.builders import make_interaction, make_post, make_user
from tests.conftest import create_database

TABLES = {"users", "posts", "user_interaction", "user_recommendation"}


def _revisions(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _schema_drift(url: str) -> list[object]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return list(diff)


def _round_trip(url: str) -> None:
    for revision in _revisions(url):
        command.upgrade(alembic_config(url), revision)
        assert current_revision(url) == revision
    assert _schema_drift(url) == []
    downgrade_to_base(url)
    engine = create_engine(normalise_url(url))
    assert TABLES.isdisjoint(inspect(engine).get_table_names())
    engine.dispose()
    upgrade_to_head(url)
    assert current_revision(url) == _revisions(url)[-1]


def test_every_migration_upgrades_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'migrations.db'}")


@pytest.mark.postgres
def test_every_migration_upgrades_and_downgrades_on_postgres(postgres_admin_url: str) -> None:
    with create_database(postgres_admin_url, f"ml_migrations_{uuid.uuid4().hex[:8]}") as url:
        _round_trip(url)


@pytest.mark.postgres
def test_interaction_metadata_is_jsonb_and_indexes_exist_on_postgres(postgres_url: str) -> None:
    engine = create_engine(normalise_url(postgres_url))
    inspector = inspect(engine)
    columns = {c["name"]: c for c in inspector.get_columns("user_interaction")}
    assert str(columns["metadata"]["type"]) == "JSONB"
    indexes = {i["name"] for i in inspector.get_indexes("user_interaction")}
    assert {"ix_user_interaction_user_id_created_at", "ux_user_interaction_user_id_event_id"} <= indexes
    fks = {
        fk["referred_table"]: fk["options"].get("ondelete")
        for fk in inspector.get_foreign_keys("user_interaction")
    }
    assert fks == {"users": "CASCADE", "posts": "CASCADE"}
    engine.dispose()


def _event_ids_per_user_on_a_populated_database(url: str) -> None:
    """0006 keeps every row; its downgrade keeps them too, the later of a shared event id losing it."""
    command.upgrade(alembic_config(url), "0005")
    author, other = make_user(), make_user()
    post = make_post(author_id=author.id)
    first = make_interaction(user_id=author.id, post_id=post.id, event_id="evt-1")
    rows = [first, make_interaction(user_id=other.id, post_id=post.id, event_id="evt-2")]
    rows.append(make_interaction(user_id=other.id, post_id=post.id))
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(insert(USERS), [mappers.user_to_row(u) for u in (author, other)])
        conn.execute(insert(POSTS), [mappers.post_to_row(post)])
        conn.execute(insert(INTERACTIONS), [mappers.interaction_to_row(i) for i in rows])

    command.upgrade(alembic_config(url), "0006")
    # The same id from another user is another event; from the same user, one event.
    later = make_interaction(
        user_id=other.id, post_id=post.id, event_id="evt-1", created_at=first.created_at + timedelta(hours=1)
    )
    again = make_interaction(user_id=author.id, post_id=post.id, event_id="evt-1")
    with engine.begin() as conn:
        conn.execute(insert(INTERACTIONS), [mappers.interaction_to_row(later)])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(INTERACTIONS), [mappers.interaction_to_row(again)])

    command.downgrade(alembic_config(url), "0005")
    with engine.connect() as conn:
        kept = {
            row.id: row.event_id for row in conn.execute(select(INTERACTIONS.c.id, INTERACTIONS.c.event_id))
        }
    assert kept == {first.id: "evt-1", rows[1].id: "evt-2", rows[2].id: None, later.id: None}
    command.upgrade(alembic_config(url), "head")
    engine.dispose()


def test_event_ids_become_unique_per_user_on_a_populated_sqlite_database(tmp_path: Path) -> None:
    _event_ids_per_user_on_a_populated_database(f"sqlite:///{tmp_path / 'populated.db'}")


@pytest.mark.postgres
def test_event_ids_become_unique_per_user_on_a_populated_postgres_database(postgres_admin_url: str) -> None:
    with create_database(postgres_admin_url, f"ml_migrations_{uuid.uuid4().hex[:8]}") as url:
        _event_ids_per_user_on_a_populated_database(url)


def test_the_service_expects_the_head_revision(tmp_path: Path) -> None:
    assert _revisions(f"sqlite:///{tmp_path / 'x.db'}")[-1] == SCHEMA_REVISION
