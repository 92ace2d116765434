"""The registry's records: entries, data sources, history and the state they make up, and how the
state is written to and read from `registry.json` (see registry.py for the schema)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

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


def state_to_bytes(state: RegistryState) -> bytes:
    document = {
        "schema_version": SCHEMA_VERSION,
        "active": [entry.version for entry in state.active_entries()],
        "models": [entry.to_json() for entry in state.entries],
        "history": [event.to_json() for event in state.history],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def state_from_bytes(data: bytes, path: Path) -> RegistryState:
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
            "model registry is not valid and was left untouched, fix it by hand or restore it from a "
            f"backup: {path} ({type(exc).__name__}: {exc}). It is never reset automatically because it "
            "records which artifacts are trusted."
        ) from exc
