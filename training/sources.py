"""Where training data comes from: the service database (default) or a generated dataset file."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from app.infrastructure.db.engine import normalise_url

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

    frames = load_frames(path)
    return TrainingData(frames.interactions, frames.posts, frames.users, source=str(path))


def load_database(database_url: str) -> TrainingData:
    """Every user, post and interaction; PostgreSQL streams through COPY, SQLite through pandas."""
    url = normalise_url(database_url)
    engine = create_engine(url)
    try:
        frames = {name: _read(engine, name, sql) for name, sql in QUERIES.items()}
    finally:
        engine.dispose()
    if frames["interactions"].empty:
        raise ValueError(
            "the database has no interactions: seed it with `uv run python -m data.seed_database` first"
        )
    display = url.split("@")[-1] if "@" in url else url
    return TrainingData(frames["interactions"], frames["posts"], frames["users"], source=display)


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
