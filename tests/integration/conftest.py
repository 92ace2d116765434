"""Opened stores over real databases: a migrated SQLite file of each test's own, and the session's
PostgreSQL database with its tables emptied before each test.

asyncpg connections cannot join an outer transaction rolled back at teardown, so rows a test
writes are committed and removed by TRUNCATE instead.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from app.domain.entities import Post, User
from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import upgrade_to_head
from app.infrastructure.db.stores import DatabaseTimeouts, Stores, connected
from tests.builders import BASE_TIME, make_post, make_user

# Every table a test writes; service_meta (the database's id) is kept.
EMPTY_DATA_TABLES = text(
    "TRUNCATE served_list, deleted_post, user_recommendation, user_interaction, posts, users CASCADE"
)
# Short waits, so a test of an outage fails fast instead of hanging.
TEST_TIMEOUTS = DatabaseTimeouts(connect_seconds=3.0, statement_ms=5000, pool_size=2)


@dataclass(frozen=True)
class Database:
    """A migrated database for one test: its URL, and a sync engine to arrange and inspect rows."""

    url: str
    engine: Engine

    @property
    def backend(self) -> str:
        return self.engine.dialect.name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    yield Database(url, engine)
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(postgres_url))
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_database(postgres_url: str, postgres_engine: Engine) -> Database:
    """The session's PostgreSQL database, its data tables emptied."""
    with postgres_engine.begin() as conn:
        conn.execute(EMPTY_DATA_TABLES)
    return Database(postgres_url, postgres_engine)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    found: Database = request.getfixturevalue(f"{request.param}_database")
    return found


@pytest.fixture
async def stores(database: Database) -> AsyncIterator[Stores]:
    """The service's repositories over `database`, opened in the test's event loop."""
    async with connected(database.url, TEST_TIMEOUTS) as opened:
        yield opened


@dataclass(frozen=True)
class World:
    author: User
    reader: User
    posts: list[Post]


async def seed(stores: Stores, posts: int = 3) -> World:
    """An author with `posts` posts an hour apart from BASE_TIME, and a reader with no history."""
    author, reader = make_user(), make_user()
    written = [
        make_post(author_id=author.id, created_at=BASE_TIME + timedelta(hours=i)) for i in range(posts)
    ]
    await stores.users.add_many([author, reader])
    await stores.posts.add_many(written)
    return World(author, reader, written)
