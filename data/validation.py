"""Whole-file validation of a dataset: field rules from data.schemas plus referential checks.

Every record goes through its Pydantic model, except interaction lines of a JSON Lines file that pass
an equivalent but stricter columnar check (canonical UUIDs, ISO 8601 times with an offset, a known type,
an object or null as metadata); only lines failing it are validated one by one, which is what keeps
millions of interactions to seconds. Either way, the referential rules are the same.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from pydantic import BaseModel, TypeAdapter, ValidationError

from data.io import RECORD_KINDS, SECTION_KEYS, iter_byte_blocks

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
INTERACTION_FIELDS = ("record", "id", "user_id", "post_id", "interaction_type", "created_at", "metadata")
ORDER = ("metadata", *RECORD_KINDS)


@dataclass
class ValidationReport:
    path: Path
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def render(self) -> str:
        seen = ", ".join(f"{self.counts[kind]} {kind}" for kind in RECORD_KINDS)
        if self.ok:
            return f"{self.path}: valid ({seen})"
        shown = "\n".join(f"  - {error}" for error in self.errors)
        more = self.error_count - len(self.errors)
        tail = f"\n  ... and {more} more" if more else ""
        return f"{self.path}: {self.error_count} error(s) in {seen}:\n{shown}{tail}"


class FileValidator:
    def __init__(self, models: dict[str, type[BaseModel]], max_errors: int) -> None:
        self.one = {kind: TypeAdapter(model) for kind, model in models.items()}
        self.max_errors = max_errors
        self.metadata: Any = None
        self.users: dict[str, int] = {}  # canonical id → created_at in µs
        self.usernames: set[str] = set()
        self.posts: dict[str, int] = {}
        self.interaction_ids: list[pa.Array] = []
        self.slow_interaction_ids: list[str] = []
        self.stage = 0
        self.report = ValidationReport(Path())

    def run(self, path: Path) -> ValidationReport:
        self.report.path = path
        if path.suffix == ".jsonl":
            first_line = 1
            for block in iter_byte_blocks(path):
                self._check_block(first_line, block)
                first_line += block.count(b"\n") + (not block.endswith(b"\n"))
        else:
            self._check_document(path)
        self._finish()
        return self.report

    def error(self, where: str, message: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < self.max_errors:
            self.report.errors.append(f"{where}: {message}")

    # -- parsing ---------------------------------------------------------------------------------

    def _check_document(self, path: Path) -> None:
        try:
            with path.open("rb") as fh:
                document = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.error(str(path), f"not a JSON document: {exc}")
            return
        if not isinstance(document, dict):
            self.error(str(path), "the document must be an object with metadata, users, posts, interactions")
            return
        self._check_raw("metadata", "metadata", "metadata", document.get("metadata"))
        for kind in RECORD_KINDS:
            items = document.get(SECTION_KEYS[kind], [])
            for index, raw in enumerate(items if isinstance(items, list) else [items]):
                self._check_raw(f"{SECTION_KEYS[kind]}[{index}]", kind, kind, raw)

    def _check_block(self, first_line: int, block: bytes) -> None:
        numbered = [(first_line + i, line) for i, line in enumerate(block.split(b"\n")) if line.strip()]
        try:
            table = pa_json.read_json(io.BytesIO(block))
        except pa.ArrowInvalid:
            table = None
        fast = self._fast_interaction_rows(table, len(numbered))
        if table is None or fast is None or not fast.any():
            for number, line in numbered:
                self._check_line(number, line)
            return
        first_fast = int(np.argmax(fast))
        for number, line in numbered[:first_fast]:
            self._check_line(number, line)
        self._check_interaction_columns(table, fast, numbered)
        for row in np.flatnonzero(~fast[first_fast:]) + first_fast:
            self._check_line(*numbered[row])

    def _check_line(self, number: int, line: bytes) -> None:
        try:
            raw = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.error(f"line {number}", f"invalid JSON: {exc}")
            return
        kind = raw.pop("record", None) if isinstance(raw, dict) else None
        if kind not in self.one:
            self.error(f"line {number}", f'"record" must be one of {", ".join(ORDER)}, got {kind!r}')
            return
        self._check_raw(f"line {number}", kind, kind, raw)

    def _check_raw(self, where: str, kind: str, label: str, raw: Any) -> None:
        self.report.counts[kind] += 1
        try:
            model = self.one[kind].validate_python(raw)
        except ValidationError as exc:
            record_id = raw.get("id") if isinstance(raw, dict) else None
            name = f"{where} ({label} {record_id})" if record_id is not None else f"{where} ({label})"
            for problem in exc.errors(include_url=False):
                field_name = ".".join(str(part) for part in problem["loc"]) or "record"
                self.error(name, f"{field_name}: {problem['msg']}")
            return
        self._check_order(where, kind)
        self._check_model(where, kind, model)

    def _check_order(self, where: str, kind: str) -> None:
        stage = ORDER.index(kind)
        if stage < self.stage:
            self.error(
                where, f"{kind} record after {ORDER[self.stage]} records: keep the order {', '.join(ORDER)}"
            )
        self.stage = max(self.stage, stage)

    # -- the columnar fast path for interaction lines ---------------------------------------------

    def _fast_interaction_rows(self, table: pa.Table | None, n_lines: int) -> np.ndarray | None:
        if table is None or table.num_rows != n_lines or "record" not in table.column_names:
            return None
        if not set(INTERACTION_FIELDS[1:6]) <= set(table.column_names):
            return None
        if any(not pa.types.is_string(table.column(name).type) for name in INTERACTION_FIELDS[:6]):
            return None
        ok = pc.equal(table.column("record"), "interaction")
        for name in ("id", "user_id", "post_id"):
            ok = pc.and_(ok, pc.match_substring_regex(table.column(name), UUID_PATTERN))
        ok = pc.and_(
            ok, pc.is_in(table.column("interaction_type"), pa.array(["view", "click", "like", "share"]))
        )
        ok = pc.and_(ok, pc.match_substring_regex(table.column("created_at"), TIME_PATTERN))
        ok = pc.and_(ok, self._metadata_ok(table))
        for name in set(table.column_names) - set(INTERACTION_FIELDS):
            ok = pc.and_(ok, pc.is_null(table.column(name)))
        mask = ok.fill_null(False).to_numpy(zero_copy_only=False)
        return np.asarray(mask, dtype=bool)

    @staticmethod
    def _metadata_ok(table: pa.Table) -> pa.ChunkedArray | bool:
        if "metadata" not in table.column_names:
            return True
        column = table.column("metadata")
        if pa.types.is_struct(column.type):
            return True
        return pc.is_null(column)

    def _check_interaction_columns(self, table: pa.Table, fast: np.ndarray, numbered: list[Any]) -> None:
        self._check_order(f"line {numbered[int(np.argmax(fast))][0]}", "interaction")
        rows = table.filter(pa.array(fast))
        times = pd.to_datetime(
            rows.column("created_at").to_pandas(), format="ISO8601", utc=True, errors="coerce"
        )
        micros = times.to_numpy(dtype="datetime64[us]").astype(np.int64)
        self.report.counts["interaction"] += rows.num_rows
        self.interaction_ids.append(rows.column("id").combine_chunks())
        lines = [numbered[i][0] for i in np.flatnonzero(fast)]
        user_at = _lookup(rows.column("user_id"), self.users)
        post_at = _lookup(rows.column("post_id"), self.posts)
        bad_time = pd.isna(times).to_numpy()
        problems = [
            (bad_time, "created_at: not a valid date and time"),
            (user_at == MISSING, "user_id: not the id of a user in this file"),
            (post_at == MISSING, "post_id: not the id of a post in this file"),
            (
                (post_at != MISSING) & ~bad_time & (micros < post_at),
                "created_at: before the post was created",
            ),
            (
                (user_at != MISSING) & ~bad_time & (micros < user_at),
                "created_at: before the user was created",
            ),
        ]
        ids = rows.column("id")
        for mask, message in problems:
            for row in np.flatnonzero(mask)[: self.max_errors]:
                self.error(f"line {lines[row]} (interaction {ids[int(row)]})", message)
            self.report.error_count += max(0, int(mask.sum()) - self.max_errors)

    # -- rules on validated models -----------------------------------------------------------------

    def _check_model(self, where: str, kind: str, model: Any) -> None:
        if kind == "metadata":
            if self.metadata is not None:
                self.error(where, "a second metadata record")
            self.metadata = model
        elif kind == "user":
            self._check_user(where, model)
        elif kind == "post":
            self._check_post(where, model)
        else:
            self._check_interaction(where, model)

    def _check_user(self, where: str, user: Any) -> None:
        key = str(user.id)
        if key in self.users:
            self.error(f"{where} (user {key})", "id: duplicate user id")
        if user.username in self.usernames:
            self.error(f"{where} (user {key})", f"username: {user.username!r} is already taken")
        self.users[key] = _micros(user.created_at)
        self.usernames.add(user.username)

    def _check_post(self, where: str, post: Any) -> None:
        key = str(post.id)
        if key in self.posts:
            self.error(f"{where} (post {key})", "id: duplicate post id")
        if str(post.author_id) not in self.users:
            self.error(f"{where} (post {key})", "author_id: not the id of a user in this file")
        self.posts[key] = _micros(post.created_at)

    def _check_interaction(self, where: str, interaction: Any) -> None:
        name = f"{where} (interaction {interaction.id})"
        at = _micros(interaction.created_at)
        user_at = self.users.get(str(interaction.user_id))
        post_at = self.posts.get(str(interaction.post_id))
        if user_at is None:
            self.error(name, "user_id: not the id of a user in this file")
        elif at < user_at:
            self.error(name, "created_at: before the user was created")
        if post_at is None:
            self.error(name, "post_id: not the id of a post in this file")
        elif at < post_at:
            self.error(name, "created_at: before the post was created")
        self.slow_interaction_ids.append(str(interaction.id))

    def _finish(self) -> None:
        if self.metadata is None:
            self.error("file", "no metadata record")
        else:
            for kind in RECORD_KINDS:
                declared, found = getattr(self.metadata.counts, SECTION_KEYS[kind]), self.report.counts[kind]
                if declared != found:
                    self.error(
                        "metadata", f"counts.{SECTION_KEYS[kind]}: says {declared}, the file has {found}"
                    )
        ids = pa.chunked_array([*self.interaction_ids, pa.array(self.slow_interaction_ids, pa.string())])
        if len(pc.unique(ids)) != len(ids):
            duplicated = pd.Series(ids.to_pandas())
            for value in duplicated[duplicated.duplicated()].unique()[: self.max_errors]:
                self.error(f"interaction {value}", "id: duplicate interaction id")


MISSING = np.iinfo(np.int64).max


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _lookup(keys: pa.ChunkedArray, created: dict[str, int]) -> np.ndarray:
    """created_at (µs) of each key, MISSING where the key is unknown."""
    ids = pa.array(list(created), pa.string())
    index = pc.index_in(keys, value_set=ids).to_numpy(zero_copy_only=False)
    found = ~pd.isna(index)
    values = np.fromiter(created.values(), np.int64, len(created))
    out = np.full(len(index), MISSING, dtype=np.int64)
    out[found] = values[index[found].astype(np.int64)]
    return out
