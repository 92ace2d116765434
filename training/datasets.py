"""External interaction files: a headed CSV and MovieLens's u.data layout.

Both become an interactions frame with user_id, post_id (str), weight (float ≥ 0) and
created_at (tz-aware UTC), which preprocessing accepts in place of interaction types.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMATS = ("csv", "movielens")


def _timestamps(values: pd.Series) -> pd.Series:
    """Epoch seconds when numeric, otherwise ISO-8601 strings; naive times are taken as UTC."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values, unit="s", utc=True)
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _frame(users: pd.Series, items: pd.Series, weights: pd.Series, stamps: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": users.astype(str).to_numpy(),
            "post_id": items.astype(str).to_numpy(),
            "weight": pd.to_numeric(weights, errors="raise").astype("float32").to_numpy(),
            "created_at": _timestamps(stamps).to_numpy(),
        }
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    if (frame["weight"] < 0).any():
        raise ValueError("interaction weights must be non-negative")
    return frame


def load_csv(path: Path) -> pd.DataFrame:
    """A CSV with a header: user, item, rating or weight, timestamp."""
    raw = pd.read_csv(path)
    columns = {c.strip().lower(): c for c in raw.columns}
    weight_col = columns.get("weight") or columns.get("rating")
    missing = [c for c in ("user", "item", "timestamp") if c not in columns]
    if missing or weight_col is None:
        raise ValueError(
            f"{path}: expected columns user,item,rating|weight,timestamp; got {list(raw.columns)}"
        )
    return _frame(raw[columns["user"]], raw[columns["item"]], raw[weight_col], raw[columns["timestamp"]])


def load_movielens(path: Path) -> pd.DataFrame:
    """MovieLens 100k u.data: tab-separated user, item, rating, epoch timestamp, no header."""
    raw = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "timestamp"])
    return _frame(raw["user"], raw["item"], raw["rating"], raw["timestamp"])


def load_interaction_file(path: Path, fmt: str) -> pd.DataFrame:
    """Load an external interaction file in one of FORMATS; raises ValueError on a bad file."""
    if fmt == "csv":
        return load_csv(path)
    if fmt == "movielens":
        return load_movielens(path)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
