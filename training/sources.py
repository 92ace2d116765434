"""Where training data comes from (the service database by default, or a dataset file), what
identifies it, and the configuration of the model active for it."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, text

from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.identity import describe_database, read_database_id
from app.infrastructure.ml.artifact import file_sha256
from app.infrastructure.ml.config import KnnConfig
from app.infrastructure.ml.registry import DataSource, ModelRegistry
from app.shared.exceptions import StorageUnavailable

QUERIES = {
    "users": "SELECT id, username, follower_count, created_at FROM users",
    "posts": "SELECT id, author_id, content, topic, hashtags, created_at FROM posts",
    "interactions": "SELECT user_id, post_id, interaction_type, created_at FROM user_interaction",
}
ID_COLUMNS = {"users": ["id"], "posts": ["id", "author_id"], "interactions": ["user_id", "post_id"]}


@dataclass(frozen=True)
class TrainingData:
    interactions: pd.DataFrame
    posts: pd.DataFrame
    users: pd.DataFrame
    source: str
    identity: DataSource

    def stats(self) -> dict[str, object]:
        created = self.interactions["created_at"]
        return {
            "source": self.source,
            "users": int(self.users.shape[0]),
            "posts": int(self.posts.shape[0]),
            "interactions": int(self.interactions.shape[0]),
            "active_users": int(self.interactions["user_id"].nunique()),
            "first_interaction": _iso(created.min()) if len(created) else None,
            "last_interaction": _iso(created.max()) if len(created) else None,
        }


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def load_file(path: Path) -> TrainingData:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: generate one with `uv run python -m data.generate_fake_data --output {path}`"
        )
    from data.io import load_frames

    identity = file_source(path)
    frames = load_frames(path)
    return TrainingData(frames.interactions, frames.posts, frames.users, str(path), identity)


def load_database(database_url: str) -> TrainingData:
    """Every user, post and interaction; PostgreSQL streams through COPY, SQLite through pandas.

    Raises ValueError when the database has no interactions or cannot say its id (unreachable,
    or its schema predates migration 0004).
    """
    engine = create_engine(normalise_url(database_url))
    try:
        identity = _database_source(engine, database_url)
        frames = {name: _read(engine, name, sql) for name, sql in QUERIES.items()}
    finally:
        engine.dispose()
    if frames["interactions"].empty:
        raise ValueError(
            "the database has no interactions: seed it with `uv run python -m data.seed_database` first"
        )
    return TrainingData(frames["interactions"], frames["posts"], frames["users"], identity.display, identity)


def file_source(path: Path) -> DataSource:
    """A data file as a data source: identified by the sha256 of its bytes, shown by its path."""
    return DataSource("file", file_sha256(path), str(path))


def database_source(database_url: str) -> DataSource:
    """A database as a data source: identified by the id in its service_meta table. Raises
    ValueError when the database cannot say it."""
    engine = create_engine(normalise_url(database_url))
    try:
        return _database_source(engine, database_url)
    finally:
        engine.dispose()


def _database_source(engine: Engine, database_url: str) -> DataSource:
    display = describe_database(database_url)
    try:
        database_id = read_database_id(engine)
    except StorageUnavailable as error:
        # A ValueError, as for every other problem with the data, so each command reports it.
        raise ValueError(f"cannot identify the database {display}: {error}") from error
    return DataSource("database", database_id, display)


def active_config_for(models_dir: Path, data_identity: DataSource) -> dict[str, Any] | None:
    """The config of the model active for `data_identity` in the registry, or None when none is."""
    entry = ModelRegistry(models_dir).active_for(data_identity)
    return dict(entry.config) if entry is not None else None


def knn_config_from(raw: Mapping[str, Any]) -> KnnConfig:
    """A registry entry's config as a KnnConfig: keys this code does not know are dropped and
    missing ones take their defaults. Raises ValueError when a value is not acceptable."""
    known = {f.name for f in fields(KnnConfig)}
    try:
        return KnnConfig(**{key: value for key, value in raw.items() if key in known})
    except TypeError as error:
        raise ValueError(f"the config cannot be rebuilt: {error}") from error


def _read(engine: object, name: str, sql: str) -> pd.DataFrame:
    print(f"reading {name} …", file=sys.stderr, flush=True)
    if engine.dialect.name == "postgresql":  # type: ignore[attr-defined]
        raw = engine.raw_connection()  # type: ignore[attr-defined]
        try:
            buffer = io.StringIO()
            raw.cursor().copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER", buffer)
        finally:
            raw.close()
        buffer.seek(0)
        frame = pd.read_csv(buffer, dtype=dict.fromkeys(("id", "user_id", "post_id", "author_id"), str))
    else:
        with engine.connect() as conn:  # type: ignore[attr-defined]
            frame = pd.read_sql(text(sql), conn)
    return _normalise(name, frame)


def _normalise(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    for column in ID_COLUMNS[name]:
        frame[column] = _canonical_uuid(frame[column].astype(str))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    if name == "posts":
        frame["hashtags"] = frame["hashtags"].map(
            lambda v: json.loads(v) if isinstance(v, str) else (v or [])
        )
        frame["content"] = frame["content"].fillna("")
    return frame


def _canonical_uuid(ids: pd.Series) -> pd.Series:
    """SQLite stores UUIDs as 32 hex digits; the rest of the code uses the dashed form."""
    if ids.empty or ids.iloc[0].count("-") == 4:
        return ids
    return (
        ids.str[:8] + "-" + ids.str[8:12] + "-" + ids.str[12:16] + "-" + ids.str[16:20] + "-" + ids.str[20:]
    )
