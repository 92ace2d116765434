"""The dataset file format: writing, streaming and loading into pandas.

`.json` is one document {"metadata", "users", "posts", "interactions"}; `.jsonl` is one object per
line with a "record" key: the metadata line, then users, posts and interactions in that order.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pydantic_core

RECORD_KINDS = ("user", "post", "interaction")
SECTION_KEYS = {"user": "users", "post": "posts", "interaction": "interactions"}
FRAME_COLUMNS = {
    "user": ["id", "username", "display_name", "follower_count", "created_at", "interests"],
    "post": ["id", "author_id", "content", "topic", "hashtags", "created_at"],
    "interaction": ["id", "user_id", "post_id", "interaction_type", "created_at", "metadata"],
}
CHUNK_LINES = 100_000
BLOCK_BYTES = 64 << 20


def is_json_lines(path: Path) -> bool:
    return path.suffix == ".jsonl"


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class DatasetWriter:
    """Writes records (already-serialised JSON objects) in the format chosen by the file extension.

    Kinds must be written in the order user, post, interaction; each call may pass any number of records.
    """

    def __init__(self, path: Path, metadata: dict[str, Any]) -> None:
        self.path = path
        self.lines = is_json_lines(path)
        self._metadata = metadata
        self._fh: TextIO | None = None
        self._sections_opened = 0
        self._section_empty = True

    def __enter__(self) -> DatasetWriter:
        self._fh = self.path.open("w", encoding="utf-8", newline="\n")
        if self.lines:
            self._fh.write(dumps({"record": "metadata", **self._metadata}) + "\n")
        else:
            self._fh.write('{"metadata":' + dumps(self._metadata) + ",\n")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._fh is not None
        if not self.lines and exc is None:
            self._open_sections_through(len(RECORD_KINDS))
            self._fh.write("\n]}\n")
        self._fh.close()

    def record_prefix(self, kind: str) -> str:
        """The text every serialised record of this kind starts with (it includes the opening brace)."""
        return f'{{"record":"{kind}",' if self.lines else "{"

    def write(self, kind: str, records: list[str]) -> None:
        assert self._fh is not None
        if self.lines:
            self._fh.write("\n".join(records) + "\n" if records else "")
            return
        self._open_sections_through(RECORD_KINDS.index(kind) + 1)
        if records:
            self._fh.write(("" if self._section_empty else ",\n") + ",\n".join(records))
            self._section_empty = False

    def _open_sections_through(self, count: int) -> None:
        assert self._fh is not None
        while self._sections_opened < count:
            closing = "" if self._sections_opened == 0 else "\n],\n"
            self._fh.write(f'{closing}"{SECTION_KEYS[RECORD_KINDS[self._sections_opened]]}":[\n')
            self._sections_opened += 1
            self._section_empty = True


def iter_line_chunks(path: Path, size: int = CHUNK_LINES) -> Iterator[tuple[int, list[bytes]]]:
    """Non-blank lines of a JSON Lines file in chunks, with the 1-based line number of each line."""
    chunk: list[bytes] = []
    numbers: list[int] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                chunk.append(line)
                numbers.append(number)
            if len(chunk) >= size:
                yield numbers[0], chunk
                chunk, numbers = [], []
    if chunk:
        yield numbers[0], chunk


def parse_lines(lines: list[bytes]) -> list[Any]:
    """Parse many JSON lines at once (one call into the fast JSON parser instead of one per line)."""
    return pydantic_core.from_json(b"[" + b",".join(lines) + b"]", cache_strings=True)  # type: ignore[no-any-return]


def iter_records(path: Path | str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (kind, record) for every record: kind is metadata, user, post or interaction."""
    path = Path(path)
    if is_json_lines(path):
        for _, lines in iter_line_chunks(path):
            for obj in parse_lines(lines):
                yield str(obj.pop("record", "unknown")), obj
        return
    with path.open("rb") as fh:
        document = json.load(fh)
    yield "metadata", document.get("metadata", {})
    for kind in RECORD_KINDS:
        for record in document.get(SECTION_KEYS[kind], []):
            yield kind, record


@dataclass(frozen=True)
class DatasetFrames:
    """Users, posts and interactions; ids are str and created_at is tz-aware UTC datetime64."""

    users: pd.DataFrame
    posts: pd.DataFrame
    interactions: pd.DataFrame


def _frames_from_chunk(records: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RECORD_KINDS}
    for record in records:
        records_of_kind = by_kind.get(record.get("record", ""))
        if records_of_kind is not None:
            records_of_kind.append(record)
    return {kind: _to_frame(kind, chunk) for kind, chunk in by_kind.items() if chunk}


def _to_frame(kind: str, records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {column: [record.get(column) for record in records] for column in FRAME_COLUMNS[kind]}
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], format="ISO8601", utc=True)
    return frame


def iter_byte_blocks(path: Path, size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The file in blocks of about `size` bytes, each ending at a line break."""
    rest = b""
    with path.open("rb") as fh:
        while block := fh.read(size):
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest += block
                continue
            yield rest + block[:cut]
            rest = block[cut:]
    if rest.strip():
        yield rest


def _arrow_frames(block: bytes) -> dict[str, pd.DataFrame]:
    """Parse a block of JSON lines with pyarrow; far faster than building one dict per record."""
    table = pa_json.read_json(io.BytesIO(block))
    kinds = table.column("record")
    frames: dict[str, pd.DataFrame] = {}
    for kind in ("user", "post"):
        rows = table.filter(pc.equal(kinds, kind))
        if rows.num_rows:
            frames[kind] = _to_frame(kind, rows.to_pylist())
    rows = table.filter(pc.equal(kinds, "interaction"))
    if rows.num_rows:
        present = [c for c in FRAME_COLUMNS["interaction"] if c in rows.column_names]
        frame = rows.select([c for c in present if c != "metadata"]).to_pandas()
        frame["metadata"] = metadata_objects(rows.column("metadata")) if "metadata" in present else None
        frame = frame.reindex(columns=FRAME_COLUMNS["interaction"])
        frame["created_at"] = pd.to_datetime(frame["created_at"], format="ISO8601", utc=True)
        frames["interaction"] = frame
    return frames


def metadata_objects(column: pa.ChunkedArray) -> list[Any]:
    values: list[Any] = column.to_pylist()
    merged = column.combine_chunks()
    if isinstance(merged, pa.StructArray) and any(
        merged.field(i).null_count > merged.null_count for i in range(merged.type.num_fields)
    ):
        # A struct column has every key on every row: drop the keys a record did not have.
        return [{k: v for k, v in value.items() if v is not None} if value else value for value in values]
    return values


def _iter_chunk_frames(path: Path) -> Iterator[dict[str, pd.DataFrame]]:
    if is_json_lines(path):
        for block in iter_byte_blocks(path):
            try:
                yield _arrow_frames(block)
            except (pa.ArrowInvalid, KeyError):
                lines = [line for line in block.splitlines() if line.strip()]
                yield _frames_from_chunk(parse_lines(lines))
        return
    with path.open("rb") as fh:
        document = json.load(fh)
    yield {kind: _to_frame(kind, document.get(SECTION_KEYS[kind], [])) for kind in RECORD_KINDS}


def load_frames(path: Path | str) -> DatasetFrames:
    """Load a dataset file (either format) into three DataFrames with the columns of FRAME_COLUMNS."""
    parts: dict[str, list[pd.DataFrame]] = {kind: [] for kind in RECORD_KINDS}
    for frames_of_chunk in _iter_chunk_frames(Path(path)):
        for kind, frame in frames_of_chunk.items():
            parts[kind].append(frame)
    frames = {
        kind: pd.concat(chunks, ignore_index=True) if chunks else _to_frame(kind, [])
        for kind, chunks in parts.items()
    }
    for kind, frame in frames.items():
        for column in ("id", "user_id", "post_id", "author_id"):
            if column in frame.columns:
                frame[column] = frame[column].astype(str)
        frames[kind] = frame
    return DatasetFrames(users=frames["user"], posts=frames["post"], interactions=frames["interaction"])
