"""Where evaluation data comes from: the service database (the default), a generated dataset,
or an external interaction file: a headed CSV or TSV (MovieLens, Last.fm and the like) or
MovieLens 100k's u.data.

An external file becomes an interactions frame with user_id and post_id (str, whatever the file holds),
weight (float ≥ 0; 1 per row when the file has none) or interaction_type, and created_at
(tz-aware UTC) only when the file has timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.infrastructure.config import Settings
from training.sources import TrainingData, load_database, load_file

FORMATS = ("csv", "movielens")
FIELDS = ("user_id", "post_id", "created_at", "interaction_type", "weight")
# Header names understood without --columns, compared case-insensitively: ours, MovieLens's
# (userId, movieId, rating, timestamp) and the older user,item,rating,timestamp.
ALIASES: Mapping[str, str] = {
    **{name: name for name in FIELDS},
    "userid": "user_id",
    "user": "user_id",
    "movieid": "post_id",
    "item": "post_id",
    "itemid": "post_id",
    "item_id": "post_id",
    "timestamp": "created_at",
    "rating": "weight",
}
SEPARATORS = {"\\t": "\t", "tab": "\t", "comma": ","}


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """How to read a delimited file: `sep` None sniffs tab or comma from the first line read;
    `rename` maps file headers to FIELDS; `names` gives positional names to a file without a
    header; `skip_rows` lines are skipped before the header (or the data, with `names`)."""

    sep: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    skip_rows: int = 0


def parse_layout(columns: str | None, sep: str | None = None, skip_rows: int = 0) -> CsvLayout:
    """CsvLayout from command-line text: `columns` is either `userId=user_id,movieId=post_id`
    (rename headers) or `user_id,post_id,weight` (the file has no header); raises ValueError."""
    separator = SEPARATORS.get(sep, sep) if sep is not None else None
    if skip_rows < 0:
        raise ValueError("--skip-rows must be 0 or more")
    parts = [p.strip() for p in (columns or "").split(",") if p.strip()]
    pairs = [p.split("=", 1) for p in parts if "=" in p]
    if pairs and len(pairs) != len(parts):
        raise ValueError("--columns takes either NAME=FIELD pairs or plain positional names, not both")
    if not pairs:
        return CsvLayout(separator, {}, tuple(parts), skip_rows)
    rename = {source.strip(): target.strip() for source, target in pairs}
    unknown = sorted(set(rename.values()) - set(FIELDS))
    if unknown:
        raise ValueError(f"--columns maps to unknown field(s) {unknown}; fields are {', '.join(FIELDS)}")
    return CsvLayout(separator, rename, (), skip_rows)


def _sniff(path: Path, skip_rows: int) -> str:
    with path.open(encoding="utf-8", errors="replace") as handle:
        line = next((text for i, text in enumerate(handle) if i >= skip_rows), "")
    return "\t" if "\t" in line and "," not in line else ","


def _field_of(header: str, rename: Mapping[str, str]) -> str | None:
    name = header.strip()
    return rename[name] if name in rename else ALIASES.get(name.lower())


def _resolve(path: Path, headers: list[str], layout: CsvLayout) -> dict[str, str]:
    """File column → field, refusing files without both ids or with a field twice."""
    missing = sorted(set(layout.rename) - {h.strip() for h in headers})
    if missing:
        raise ValueError(f"{path}: --columns names {missing}, but the file's columns are {headers}")
    chosen: dict[str, str] = {}
    for header in headers:
        target = _field_of(header, layout.rename)
        if target is None:
            continue
        if target in chosen.values():
            raise ValueError(f"{path}: more than one column means {target}; pick one with --columns")
        chosen[header] = target
    for needed in ("user_id", "post_id"):
        if needed not in chosen.values():
            raise ValueError(
                f"{path}: expected columns user_id,post_id[,created_at][,weight|interaction_type] "
                f"(or MovieLens names); got {headers}: name yours with --columns NAME={needed},..."
            )
    return chosen


def _timestamps(values: pd.Series) -> pd.Series:
    """Epoch seconds when numeric, otherwise ISO-8601 strings; naive times are taken as UTC."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values, unit="s", utc=True)
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _frame(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed frame from raw columns already named like FIELDS."""
    if raw[["user_id", "post_id"]].isna().any(axis=None):
        raise ValueError(f"{path}: some rows lack a user or item id")
    frame = pd.DataFrame({"user_id": raw["user_id"].astype(str), "post_id": raw["post_id"].astype(str)})
    if "weight" in raw.columns or "interaction_type" not in raw.columns:
        weight = pd.to_numeric(raw["weight"], errors="coerce") if "weight" in raw.columns else 1.0
        frame["weight"] = pd.Series(weight, index=raw.index, dtype="float32")
        if frame["weight"].isna().any() or (frame["weight"] < 0).any():
            raise ValueError(f"{path}: interaction weights must be non-negative numbers")
    if "interaction_type" in raw.columns:
        frame["interaction_type"] = raw["interaction_type"].astype(str)
    if "created_at" in raw.columns:
        frame["created_at"] = _timestamps(raw["created_at"])
    return frame.reset_index(drop=True)


def load_csv(path: Path, layout: CsvLayout | None = None) -> pd.DataFrame:
    """A delimited file with user and item ids, optional weight/rating or interaction_type and
    optional timestamps (see ALIASES and CsvLayout); raises ValueError on a bad file."""
    layout = layout or CsvLayout()
    sep = layout.sep or _sniff(path, layout.skip_rows)
    if layout.names:
        fields = {name: ALIASES.get(name.lower(), "") for name in layout.names}
        headers = list(layout.names)
        header: int | None = None
    else:
        headers = [str(c) for c in pd.read_csv(path, sep=sep, skiprows=layout.skip_rows, nrows=0).columns]
        fields = _resolve(path, headers, layout)
        header = 0
    used = {name: target for name, target in fields.items() if target}
    ids = {name: str for name, target in used.items() if target in ("user_id", "post_id")}
    if len(ids) < 2:
        raise ValueError(f"{path}: --columns {','.join(headers)} names no user_id and post_id column")
    raw = pd.read_csv(
        path,
        sep=sep,
        header=header,
        names=headers if header is None else None,
        skiprows=layout.skip_rows,
        usecols=list(used),
        dtype=ids,
        # MovieLens 1M separates with "::", which only the python parser reads.
        engine="python" if sep is not None and len(sep) > 1 else "c",
    )
    return _frame(raw.rename(columns=used), path)


def load_movielens(path: Path) -> pd.DataFrame:
    """MovieLens 100k u.data: tab-separated user, item, rating, epoch timestamp, no header."""
    names = ("user_id", "post_id", "weight", "created_at")
    return load_csv(path, CsvLayout(sep="\t", names=names))


def load_interaction_file(path: Path, fmt: str, layout: CsvLayout | None = None) -> pd.DataFrame:
    """Load an external interaction file in one of FORMATS; raises FileNotFoundError when it
    is missing and ValueError on a bad file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass an existing interaction file to --dataset")
    if fmt == "csv":
        return load_csv(path, layout)
    if fmt == "movielens":
        return load_movielens(path)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def load_source(
    input_path: Path | None,
    dataset: Path | None,
    fmt: str = "csv",
    database_url: str | None = None,
    *,
    layout: CsvLayout | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(interactions, posts, users) from an external file, a generated dataset or, by default,
    the database (`database_url`, else Settings().database_url, as training.train reads)."""
    if dataset is not None:
        return load_interaction_file(dataset, fmt, layout), None, None
    data = load_file(input_path) if input_path is not None else _load_database(database_url)
    return data.interactions, data.posts, data.users


def _load_database(database_url: str | None) -> TrainingData:
    url = database_url or Settings().database_url
    try:
        parsed = make_url(url)
        path = parsed.database if parsed.get_backend_name() == "sqlite" else None
        if path not in (None, "", ":memory:") and not Path(str(path)).is_file():
            raise FileNotFoundError(
                f"no database at {path}: seed one with `uv run python -m data.seed_database`, "
                "or pass --input or --dataset"
            )
        return load_database(url)
    except SQLAlchemyError as error:
        first_line = str(error).splitlines()[0]
        raise ValueError(f"could not read the database ({first_line}): migrate and seed it first") from error
