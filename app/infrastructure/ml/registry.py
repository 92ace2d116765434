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

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from app.infrastructure.ml.artifact import atomic_write_bytes
from app.infrastructure.ml.registry_state import (
    DATA_SOURCE_KINDS,
    READABLE_SCHEMA_VERSIONS,
    REGISTRY_FILENAME,
    SCHEMA_VERSION,
    DataSource,
    HistoryEvent,
    ModelStatus,
    RegistryCorrupt,
    RegistryEntry,
    RegistryError,
    RegistryState,
    source_key,
    state_from_bytes,
    state_to_bytes,
)
from app.shared.exceptions import ModelUnavailable

__all__ = [
    "DATA_SOURCE_KINDS",
    "READABLE_SCHEMA_VERSIONS",
    "REGISTRY_FILENAME",
    "SCHEMA_VERSION",
    "DataSource",
    "HistoryEvent",
    "ModelRegistry",
    "ModelStatus",
    "RegistryCorrupt",
    "RegistryEntry",
    "RegistryError",
    "RegistryState",
    "source_key",
]


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
                state = state_from_bytes(handle.read(), self.path)
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
        """The entry's artifact file in `models_dir`. Raises ModelUnavailable when its filename would
        lead anywhere else: a path (`../x`, `sub/x`), an absolute path, a hidden or temporary file,
        or a symlink whose target is outside `models_dir`."""
        problem = filename_problem(entry.filename)
        if problem is None:
            root = self.models_dir.resolve()
            target = (root / entry.filename).resolve()
            if target == root or not target.is_relative_to(root):
                problem = "it is a symlink out of the folder"
        if problem is not None:
            # What happened and what to do before the first colon: /health shows that much.
            raise ModelUnavailable(
                f"artifact filename leads outside the models folder ({problem}) and was refused, fix the "
                f"registry entry of model {entry.version} or export it again: {entry.filename!r} in "
                f"{self.models_dir}"
            )
        return self.models_dir / entry.filename

    def add(self, entry: RegistryEntry) -> RegistryEntry:
        """Register a new model; raises RegistryError for a duplicate version, an active status or
        an artifact filename that is not a plain file name."""
        if entry.status is ModelStatus.ACTIVE:
            raise RegistryError("add a model as candidate, then promote it, so history records the change")
        problem = filename_problem(entry.filename)
        if problem is not None:
            raise RegistryError(f"artifact filename must be a bare file name: {entry.filename!r} ({problem})")

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
                    atomic_write_bytes(self.path, state_to_bytes(new_state))
                    self._cache = None
                return new_state
        except filelock.Timeout:
            raise RegistryError(
                f"another process has held {self.lock_path} for over {self._lock_timeout:.0f}s "
                "(a trainer or promote still running?); retry when it is done"
            ) from None


def filename_problem(filename: str) -> str | None:
    """Why `filename` is not a plain name of a file in the models folder, or None."""
    if not filename or "\x00" in filename:
        return "it is empty or holds a NUL byte"
    if Path(filename).is_absolute():
        return "it is an absolute path"
    if filename in (".", "..") or Path(filename).name != filename or "\\" in filename:
        return "it is a path, not a file name"
    if filename.startswith("."):
        return "it is a hidden or temporary file"
    return None
