"""The model registry: `models/registry.json`, every exported model and which one is active.

Schema (`schema_version` 1)::

    {
      "schema_version": 1,
      "active": "20261122T031500Z" | null,
      "models": [{"version", "filename", "created_at", "sha256", "status", "metrics", "config",
                  "data_stats", "promoted_at": ... | null, "note": ... | null}],
      "history": [{"version", "action", "at", "previous": ... | null, "note": ... | null}]
    }

Times are ISO 8601 in UTC. `status` is one of active, archived, candidate, rejected; exactly
the entry named by `active` has status active. History actions: added, promoted,
rolled_back, marked_<status>; `previous` is the version that was active before a promotion
or rollback. Every read-modify-write holds `registry.json.lock` and replaces the file
atomically, so readers never take the lock and never see a half-written file.
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

SCHEMA_VERSION = 1
REGISTRY_FILENAME = "registry.json"


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
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RegistryEntry:
        promoted_at = raw.get("promoted_at")
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
    active: str | None = None
    history: tuple[HistoryEvent, ...] = ()

    def get(self, version: str) -> RegistryEntry | None:
        return next((entry for entry in self.entries if entry.version == version), None)

    def require(self, version: str) -> RegistryEntry:
        entry = self.get(version)
        if entry is None:
            raise RegistryError(f"model version {version!r} is not in the registry; see --list")
        return entry

    def with_changes(self, changes: dict[str, dict[str, Any]]) -> tuple[RegistryEntry, ...]:
        """The entries with per-version field changes applied (for example status, note)."""
        return tuple(replace(e, **changes[e.version]) if e.version in changes else e for e in self.entries)

    def rollback_target(self) -> RegistryEntry | None:
        """The version that was active before the current one, skipping rejected or removed ones."""
        stack: list[str] = []
        for event in self.history:
            if event.action == "promoted":
                stack.append(event.version)
            elif event.action == "rolled_back":
                # A rollback may have skipped rejected versions: unwind down to its target.
                while stack and stack[-1] != event.version:
                    stack.pop()
                if not stack:
                    stack.append(event.version)
        while stack and stack[-1] == self.active:
            stack.pop()
        for version in reversed(stack):
            entry = self.get(version)
            if entry is not None and entry.status is not ModelStatus.REJECTED:
                return entry
        return None


def _state_to_bytes(state: RegistryState) -> bytes:
    document = {
        "schema_version": SCHEMA_VERSION,
        "active": state.active,
        "models": [entry.to_json() for entry in state.entries],
        "history": [event.to_json() for event in state.history],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _state_from_bytes(data: bytes, path: Path) -> RegistryState:
    try:
        document = json.loads(data)
        if document.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {document['schema_version']!r}")
        return RegistryState(
            entries=tuple(RegistryEntry.from_json(raw) for raw in document["models"]),
            active=document.get("active"),
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

    def active(self) -> RegistryEntry | None:
        state = self.state()
        return state.get(state.active) if state.active else None

    def active_version(self) -> str | None:
        return self.state().active

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
        """Make `version` active and archive the previous one; a no-op if it is already active."""

        def change(state: RegistryState) -> RegistryState:
            state.require(version)
            if state.active == version:
                return state
            return self._activate(state, version, "promoted", note)

        return self._update(change).require(version)

    def rollback(self, note: str | None = None) -> RegistryEntry:
        """Re-activate the previously active version; raises RegistryError when there is none."""

        def change(state: RegistryState) -> RegistryState:
            if state.active is None:
                raise RegistryError("no model is active, so there is nothing to roll back from")
            target = state.rollback_target()
            if target is None:
                raise RegistryError(
                    f"no earlier active version to roll back to from {state.active!r}; promote one explicitly"
                )
            return self._activate(state, target.version, "rolled_back", note)

        new_state = self._update(change)
        return new_state.require(str(new_state.active))

    def mark(self, version: str, status: ModelStatus, note: str | None = None) -> RegistryEntry:
        """Set a non-active status (e.g. rejected by the gate); the active model must be replaced first."""
        if status is ModelStatus.ACTIVE:
            raise RegistryError("use promote() to make a model active")

        def change(state: RegistryState) -> RegistryState:
            entry = state.require(version)
            if state.active == version:
                raise RegistryError(f"{version!r} is active; promote another version or roll back first")
            fields: dict[str, Any] = {"status": status, "note": note if note is not None else entry.note}
            event = HistoryEvent(version, f"marked_{status.value}", self._now(), note=note)
            entries = state.with_changes({version: fields})
            return replace(state, entries=entries, history=(*state.history, event))

        return self._update(change).require(version)

    def _activate(self, state: RegistryState, version: str, action: str, note: str | None) -> RegistryState:
        now = self._now()
        changes: dict[str, dict[str, Any]] = {version: {"status": ModelStatus.ACTIVE, "promoted_at": now}}
        if state.active is not None and state.get(state.active) is not None:
            changes[state.active] = {"status": ModelStatus.ARCHIVED}
        event = HistoryEvent(version, action, now, previous=state.active, note=note)
        return RegistryState(
            entries=state.with_changes(changes), active=version, history=(*state.history, event)
        )

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
