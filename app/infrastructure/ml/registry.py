"""The model registry: `models/registry.json`, every exported model, the data it learned from,
and which model is active for each data source.

Schema (`schema_version` 2)::

    {
      "schema_version": 2,
      "active": ["20261122T031500Z", ...],
      "models": [{"version", "filename", "created_at", "sha256", "status", "metrics", "config",
                  "data_stats", "data_source": {"kind", "id", "display"} | null,
                  "promoted_at": ... | null, "note": ... | null}],
      "history": [{"version", "action", "at", "previous": ... | null, "note": ... | null}]
    }

A data source is what a model was trained on: a database (`id` is the UUID in its
`service_meta` table) or a file (`id` is the sha256 of its bytes); `display` is for people and
never holds a password. At most one model per data source has status active, and promoting
or rolling back changes only models of the same data source, so a service asks for the
active model of its own database. The statuses are the truth; `active` lists the active
versions for readers. Schema 1 files (one `active` version, no data sources) are read as they
are: their entries belong to no data source, which no service loads.

Times are ISO 8601 in UTC. `status` is one of active, archived, candidate, rejected. History
actions: added, promoted, rolled_back, marked_<status>; `previous` is the version of the same
data source that was active before a promotion or rollback. Every read-modify-write holds
`registry.json.lock` and replaces the file atomically, so readers never take the lock and
never see a half-written file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import filelock

from app.infrastructure.ml.artifact import atomic_write_bytes
from app.shared.exceptions import ModelUnavailable

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
REGISTRY_FILENAME = "registry.json"
DATA_SOURCE_KINDS = ("database", "file")


class ModelStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    CANDIDATE = "candidate"
    REJECTED = "rejected"


class RegistryError(ValueError):
    """An operation the registry refuses: unknown version, nothing to roll back to, lock busy."""


class RegistryCorrupt(ModelUnavailable):
    """registry.json exists but cannot be parsed; it is never reset automatically."""


@dataclass(frozen=True)
class DataSource:
    """The data a model was trained on: `kind` database or file, `id` what identifies it."""

    kind: str
    id: str
    display: str = ""

    def __post_init__(self) -> None:
        if self.kind not in DATA_SOURCE_KINDS:
            raise ValueError(f"unknown data source kind {self.kind!r}; expected one of {DATA_SOURCE_KINDS}")
        if not self.id:
            raise ValueError("a data source needs an id")

    @property
    def key(self) -> str:
        """What two models must share to be compared or to replace each other; display is not part of it."""
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.display} [{self.id[:8]}]" if self.display else f"{self.kind} [{self.id[:8]}]"
        )

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "display": self.display}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DataSource:
        return cls(kind=str(raw["kind"]), id=str(raw["id"]), display=str(raw.get("display") or ""))


def source_key(source: DataSource | None) -> str | None:
    return source.key if source is not None else None


@dataclass(frozen=True)
class RegistryEntry:
    version: str
    filename: str
    created_at: datetime
    sha256: str
    status: ModelStatus = ModelStatus.CANDIDATE
    metrics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data_stats: dict[str, Any] = field(default_factory=dict)
    promoted_at: datetime | None = None
    note: str | None = None
    # None for entries written before models recorded their data: no service loads them.
    data_source: DataSource | None = None

    @property
    def source_key(self) -> str | None:
        return source_key(self.data_source)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "filename": self.filename,
            "created_at": self.created_at.isoformat(),
            "sha256": self.sha256,
            "status": self.status.value,
            "metrics": self.metrics,
            "config": self.config,
            "data_stats": self.data_stats,
            "data_source": self.data_source.to_json() if self.data_source else None,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RegistryEntry:
        promoted_at = raw.get("promoted_at")
        data_source = raw.get("data_source")
        return cls(
            version=str(raw["version"]),
            filename=str(raw["filename"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            sha256=str(raw["sha256"]),
            status=ModelStatus(raw["status"]),
            metrics=dict(raw.get("metrics") or {}),
            config=dict(raw.get("config") or {}),
            data_stats=dict(raw.get("data_stats") or {}),
            promoted_at=datetime.fromisoformat(promoted_at) if promoted_at else None,
            note=raw.get("note"),
            data_source=DataSource.from_json(data_source) if data_source else None,
        )


@dataclass(frozen=True)
class HistoryEvent:
    version: str
    action: str
    at: datetime
    previous: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HistoryEvent:
        return cls(
            version=str(raw["version"]),
            action=str(raw["action"]),
            at=datetime.fromisoformat(raw["at"]),
            previous=raw.get("previous"),
            note=raw.get("note"),
        )


@dataclass(frozen=True)
class RegistryState:
    """One consistent snapshot of registry.json."""

    entries: tuple[RegistryEntry, ...] = ()
    history: tuple[HistoryEvent, ...] = ()

    def get(self, version: str) -> RegistryEntry | None:
        return next((entry for entry in self.entries if entry.version == version), None)

    def require(self, version: str) -> RegistryEntry:
        entry = self.get(version)
        if entry is None:
            raise RegistryError(f"model version {version!r} is not in the registry; see --list")
        return entry

    def active_entries(self) -> tuple[RegistryEntry, ...]:
        """Every active model: at most one per data source."""
        return tuple(entry for entry in self.entries if entry.status is ModelStatus.ACTIVE)

    def active_for(self, key: str | None) -> RegistryEntry | None:
        """The active model of the data source with this key (None: entries without a data source)."""
        return next((e for e in self.active_entries() if e.source_key == key), None)

    def latest_active(self) -> RegistryEntry | None:
        """The most recently promoted active model, whatever its data source."""
        actives = self.active_entries()
        return max(actives, key=lambda e: e.promoted_at or e.created_at) if actives else None

    def with_changes(self, changes: dict[str, dict[str, Any]]) -> tuple[RegistryEntry, ...]:
        """The entries with per-version field changes applied (for example status, note)."""
        return tuple(replace(e, **changes[e.version]) if e.version in changes else e for e in self.entries)

    def rollback_target(self, key: str | None) -> RegistryEntry | None:
        """The version of this data source that was active before its current one, skipping
        rejected or removed ones."""
        stack: list[str] = []
        for event in self.history:
            entry = self.get(event.version)
            if entry is None or entry.source_key != key:
                continue
            if event.action == "promoted":
                stack.append(event.version)
            elif event.action == "rolled_back":
                # A rollback may have skipped rejected versions: unwind down to its target.
                while stack and stack[-1] != event.version:
                    stack.pop()
                if not stack:
                    stack.append(event.version)
        active = self.active_for(key)
        while stack and active is not None and stack[-1] == active.version:
            stack.pop()
        for version in reversed(stack):
            entry = self.get(version)
            if entry is not None and entry.status is not ModelStatus.REJECTED:
                return entry
        return None


def _state_to_bytes(state: RegistryState) -> bytes:
    document = {
        "schema_version": SCHEMA_VERSION,
        "active": [entry.version for entry in state.active_entries()],
        "models": [entry.to_json() for entry in state.entries],
        "history": [event.to_json() for event in state.history],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _state_from_bytes(data: bytes, path: Path) -> RegistryState:
    try:
        document = json.loads(data)
        version = document.get("schema_version", SCHEMA_VERSION)
        if version not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(f"unsupported schema_version {version!r}")
        return RegistryState(
            entries=tuple(RegistryEntry.from_json(raw) for raw in document["models"]),
            history=tuple(HistoryEvent.from_json(raw) for raw in document.get("history", [])),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryCorrupt(
            f"model registry {path} is not a valid registry ({type(exc).__name__}: {exc}). It was left "
            "untouched: fix it by hand or restore it from a backup; it is never reset automatically "
            "because it records which artifacts are trusted."
        ) from exc


class ModelRegistry:
    """The registry file in `models_dir`; safe to use from several processes at once."""

    def __init__(
        self,
        models_dir: Path,
        *,
        lock_timeout: float = 30.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.path = self.models_dir / REGISTRY_FILENAME
        self.lock_path = self.models_dir / (REGISTRY_FILENAME + ".lock")
        self._lock_timeout = lock_timeout
        self._now = now or (lambda: datetime.now(UTC))
        self._cache: tuple[tuple[int, int, int], RegistryState] | None = None

    def state(self) -> RegistryState:
        """The current registry (empty when the file does not exist); raises RegistryCorrupt.

        Cached by the file's inode, mtime and size, so polling it every few seconds costs one
        open and fstat; every write replaces the file, which changes the inode.
        """
        try:
            with self.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                key = (info.st_ino, info.st_mtime_ns, info.st_size)
                cached = self._cache
                if cached is not None and cached[0] == key:
                    return cached[1]
                state = _state_from_bytes(handle.read(), self.path)
        except FileNotFoundError:
            return RegistryState()
        self._cache = (key, state)
        return state

    def entries(self) -> list[RegistryEntry]:
        return list(self.state().entries)

    def get(self, version: str) -> RegistryEntry | None:
        return self.state().get(version)

    def active_for(self, source: DataSource | None) -> RegistryEntry | None:
        """The active model trained on `source` (None: the one left from schema 1, if any)."""
        return self.state().active_for(source_key(source))

    def active(self) -> RegistryEntry | None:
        """The most recently promoted active model of any data source: for tools that work with
        one data source. A service asks `active_for` its own database."""
        return self.state().latest_active()

    def active_version(self) -> str | None:
        """The version of `active()`."""
        entry = self.active()
        return entry.version if entry else None

    def artifact_path(self, entry: RegistryEntry) -> Path:
        return self.models_dir / entry.filename

    def add(self, entry: RegistryEntry) -> RegistryEntry:
        """Register a new model; raises RegistryError for a duplicate version or an active status."""
        if entry.status is ModelStatus.ACTIVE:
            raise RegistryError("add a model as candidate, then promote it, so history records the change")
        if Path(entry.filename).name != entry.filename or entry.filename.startswith("."):
            raise RegistryError(f"artifact filename must be a bare file name: {entry.filename!r}")

        def change(state: RegistryState) -> RegistryState:
            if state.get(entry.version) is not None:
                raise RegistryError(f"model version {entry.version!r} is already registered")
            event = HistoryEvent(entry.version, "added", self._now(), note=entry.note)
            return replace(state, entries=(*state.entries, entry), history=(*state.history, event))

        return self._update(change).require(entry.version)

    def promote(self, version: str, note: str | None = None) -> RegistryEntry:
        """Make `version` active for its data source and archive that source's previous active
        model (models of other data sources are untouched); a no-op if it is already active."""

        def change(state: RegistryState) -> RegistryState:
            if state.require(version).status is ModelStatus.ACTIVE:
                return state
            return self._activate(state, version, "promoted", note)

        return self._update(change).require(version)

    def rollback(self, note: str | None = None, *, source: str | None = None) -> RegistryEntry:
        """Re-activate the previously active version of the data source with key `source` (None:
        entries without a data source); raises RegistryError when there is none."""

        def change(state: RegistryState) -> RegistryState:
            current = state.active_for(source)
            if current is None:
                raise RegistryError(
                    f"no model of {source or 'no data source'} is active, so nothing to roll back"
                )
            target = state.rollback_target(source)
            if target is None:
                raise RegistryError(
                    f"no earlier active version to roll back to from {current.version!r}; "
                    "promote one explicitly"
                )
            return self._activate(state, target.version, "rolled_back", note)

        new_state = self._update(change)
        return new_state.require(new_state.history[-1].version)

    def mark(self, version: str, status: ModelStatus, note: str | None = None) -> RegistryEntry:
        """Set a non-active status (e.g. rejected by the gate); the active model must be replaced first."""
        if status is ModelStatus.ACTIVE:
            raise RegistryError("use promote() to make a model active")

        def change(state: RegistryState) -> RegistryState:
            entry = state.require(version)
            if entry.status is ModelStatus.ACTIVE:
                raise RegistryError(f"{version!r} is active; promote another version or roll back first")
            fields: dict[str, Any] = {"status": status, "note": note if note is not None else entry.note}
            event = HistoryEvent(version, f"marked_{status.value}", self._now(), note=note)
            entries = state.with_changes({version: fields})
            return replace(state, entries=entries, history=(*state.history, event))

        return self._update(change).require(version)

    def _activate(self, state: RegistryState, version: str, action: str, note: str | None) -> RegistryState:
        now = self._now()
        previous = state.active_for(state.require(version).source_key)
        changes: dict[str, dict[str, Any]] = {version: {"status": ModelStatus.ACTIVE, "promoted_at": now}}
        if previous is not None:
            changes[previous.version] = {"status": ModelStatus.ARCHIVED}
        event = HistoryEvent(version, action, now, previous=previous.version if previous else None, note=note)
        return RegistryState(entries=state.with_changes(changes), history=(*state.history, event))

    def _update(self, change: Callable[[RegistryState], RegistryState]) -> RegistryState:
        """Read, change and write the registry under the cross-process lock."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        try:
            with filelock.FileLock(self.lock_path, timeout=self._lock_timeout):
                # Read fresh inside the lock: the cache could predate another writer.
                self._cache = None
                current = self.state()
                new_state = change(current)
                if new_state is not current:
                    atomic_write_bytes(self.path, _state_to_bytes(new_state))
                    self._cache = None
                return new_state
        except filelock.Timeout:
            raise RegistryError(
                f"another process has held {self.lock_path} for over {self._lock_timeout:.0f}s "
                "(a trainer or promote still running?); retry when it is done"
            ) from None
