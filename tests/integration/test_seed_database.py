"""The seeder against a real SQLite file and a real, throwaway PostgreSQL database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.orm import InteractionRow, PostRow, UserRow
from data.db_targets import SeedError
from data.generate_fake_data import generate, main
from data.io import load_frames
from data.seed_database import seed
from data.synthetic import GeneratorConfig
from tests.conftest import create_database

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = ("users", "posts", "user_interaction")


def make_dataset(path: Path, seed_value: int = 3, interactions: int = 1500) -> Path:
    generate(GeneratorConfig(users=40, posts=80, interactions=interactions, seed=seed_value, now=NOW), path)
    return path


def row_counts(database_url: str) -> dict[str, int] | None:
    """Rows per table, or None when the schema does not exist."""
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            if "users" not in inspect(conn).get_table_names():
                return None
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("seed") / "data.jsonl")


@pytest.fixture
def seed_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    with create_database(postgres_admin_url, f"seedtest_{uuid.uuid4().hex[:10]}") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'seed.db'}"
    return str(request.getfixturevalue("seed_postgres_url"))


def test_seeding_loads_every_record(dataset: Path, database_url: str) -> None:
    stats = seed(dataset, database_url)

    assert row_counts(database_url) == {"users": 40, "posts": 80, "user_interaction": 1500}
    assert [s.inserted for s in stats] == [40, 80, 1500]


def test_a_second_run_inserts_nothing(dataset: Path, database_url: str) -> None:
    seed(dataset, database_url)

    stats = seed(dataset, database_url)

    assert [s.inserted for s in stats] == [0, 0, 0]
    assert [s.already_present for s in stats] == [40, 80, 1500]
    assert row_counts(database_url) == {"users": 40, "posts": 80, "user_interaction": 1500}


def test_an_invalid_file_writes_nothing(dataset: Path, database_url: str, tmp_path: Path) -> None:
    lines = dataset.read_text().splitlines()
    broken = json.loads(lines[-1]) | {"interaction_type": "poke"}
    invalid = tmp_path / "invalid.jsonl"
    invalid.write_text("\n".join([*lines[:-1], json.dumps(broken)]) + "\n")

    with pytest.raises(SeedError, match="interaction_type"):
        seed(invalid, database_url)

    assert row_counts(database_url) is None


def test_a_missing_file_says_how_to_create_one(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"not found.*python -m data\.generate_fake_data"):
        seed(tmp_path / "missing.json", database_url)


def test_seeded_rows_read_back_through_the_orm(dataset: Path, database_url: str) -> None:
    frames = load_frames(dataset)
    seed(dataset, database_url)
    post, interaction = frames.posts.iloc[0], frames.interactions.iloc[0]

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        post_row = conn.execute(select(PostRow).where(PostRow.id == uuid.UUID(post["id"]))).one()
        interaction_row = conn.execute(
            select(InteractionRow).where(InteractionRow.id == uuid.UUID(interaction["id"]))
        ).one()
        users_after = conn.execute(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.created_at > frames.users.created_at.min())
        ).scalar_one()
    engine.dispose()

    assert post_row.hashtags == list(post["hashtags"])
    assert str(post_row.author_id) == post["author_id"]
    assert interaction_row.metadata == interaction["metadata"]
    stored_at = interaction_row.created_at  # naive UTC on SQLite, aware on PostgreSQL
    assert (stored_at.astimezone(UTC) if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)) == interaction[
        "created_at"
    ].to_pydatetime()
    assert users_after == 39


def test_reset_replaces_what_was_there(dataset: Path, database_url: str, tmp_path: Path) -> None:
    seed(dataset, database_url)
    other = make_dataset(tmp_path / "other.json", seed_value=4, interactions=700)

    seed(other, database_url, reset=True)

    assert row_counts(database_url) == {"users": 40, "posts": 80, "user_interaction": 700}


def test_a_different_dataset_with_taken_usernames_is_refused(
    dataset: Path, database_url: str, tmp_path: Path
) -> None:
    seed(dataset, database_url)
    content = dataset.read_text()
    for user in load_frames(dataset).users.id:
        content = content.replace(user, str(uuid.uuid4()))
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(content)

    with pytest.raises(SeedError, match="usernames already taken"):
        seed(renamed, database_url)

    assert row_counts(database_url) == {"users": 40, "posts": 80, "user_interaction": 1500}


@pytest.mark.postgres
def test_a_bulk_load_restores_every_index_and_foreign_key(dataset: Path, seed_postgres_url: str) -> None:
    from app.infrastructure.db.migrate import upgrade_to_head

    upgrade_to_head(seed_postgres_url)
    before = _schema_objects(seed_postgres_url)

    seed(dataset, seed_postgres_url, bulk_rows=1)
    stats = seed(dataset, seed_postgres_url, bulk_rows=1)

    assert _schema_objects(seed_postgres_url) == before
    assert [s.inserted for s in stats] == [0, 0, 0]
    assert row_counts(seed_postgres_url) == {"users": 40, "posts": 80, "user_interaction": 1500}


def _schema_objects(database_url: str) -> dict[str, object]:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            return {
                table: (
                    sorted(str(index) for index in inspector.get_indexes(table)),
                    sorted(str(key) for key in inspector.get_foreign_keys(table)),
                )
                for table in TABLES
            }
    finally:
        engine.dispose()


def test_the_generator_and_seeder_commands_work_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from data.seed_database import main as seed_main

    path = tmp_path / "cli.json"
    assert main(["--users", "10", "--posts", "20", "--interactions", "100", "--output", str(path)]) == 0
    assert seed_main(["--input", str(path), "--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]) == 0

    assert "user_interaction" in capsys.readouterr().out
    assert seed_main(["--input", str(tmp_path / "none.json"), "--database-url", "sqlite://"]) == 1
