"""The model artifact format: one self-contained, checksummed pickle per model version.

On disk an artifact is a pickle (protocol 5) of a plain dict with the fields of
`ModelArtifact`. A dict rather than the dataclass itself keeps old artifacts readable
when this module is refactored; `format_version` says how to read the dict.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.shared.exceptions import ChecksumMismatch, ModelUnavailable

FORMAT_VERSION = 1
PICKLE_PROTOCOL = 5
# Temporary files start with ".tmp" so .gitignore (models/.tmp*) leaves them out of git.
TEMP_PREFIX = ".tmp-"

_FIELDS = ("format_version", "version", "created_at", "model", "config", "metrics", "data_stats")


@dataclass(frozen=True)
class ModelArtifact:
    """A fitted model plus everything needed to serve and audit it."""

    version: str
    created_at: datetime
    model: object
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    data_stats: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, streamed; raises OSError when it cannot be read."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see either the old file or the whole new one.

    The bytes go to a temporary file in the same directory (os.replace is only atomic
    within one file system), are fsynced, then renamed over `path`; the directory is
    fsynced so the rename itself survives a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp creates 0600; the service may run as another user than the trainer.
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_artifact(artifact: ModelArtifact, path: Path) -> str:
    """Pickle `artifact` atomically to `path`; returns the sha256 hex of the bytes written."""
    payload = {name: getattr(artifact, name) for name in _FIELDS}
    data = pickle.dumps(payload, protocol=PICKLE_PROTOCOL)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def read_artifact(path: Path, expected_sha256: str) -> ModelArtifact:
    """Read, verify and unpickle an artifact.

    The sha256 is checked before unpickling, because unpickling runs code. Raises
    ChecksumMismatch on a hash mismatch and ModelUnavailable when the file is missing,
    unreadable, not an artifact or of an unknown format version.
    """
    try:
        # Hash and unpickle the same bytes in memory: re-reading the file after the
        # check would let a file swapped in between slip through unverified.
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailable(
            f"model artifact {path} is missing; restore it, re-export the model or promote another version"
        ) from None
    except OSError as exc:
        raise ModelUnavailable(f"model artifact {path} cannot be read: {exc}") from exc
    actual = sha256_hex(data)
    if actual != expected_sha256.strip().lower():
        raise ChecksumMismatch(
            f"model artifact {path} does not match the registry: expected sha256 {expected_sha256}, "
            f"got {actual}. It was modified or corrupted after export and was NOT loaded; "
            "restore the original file, or re-export and promote a new version."
        )
    return _artifact_from_payload(_unpickle(data, path), path)


def _unpickle(data: bytes, path: Path) -> object:
    try:
        # The bytes match the sha256 the registry recorded at export time.
        return pickle.loads(data)  # noqa: S301
    except Exception as exc:
        raise ModelUnavailable(
            f"model artifact {path} cannot be unpickled ({type(exc).__name__}: {exc}); "
            "the model's code may have changed since export: retrain and export a new version"
        ) from exc


def _artifact_from_payload(payload: object, path: Path) -> ModelArtifact:
    if not isinstance(payload, dict) or not set(_FIELDS) <= payload.keys():
        raise ModelUnavailable(f"{path} is not a model artifact (expected a dict with {', '.join(_FIELDS)})")
    if payload["format_version"] != FORMAT_VERSION:
        raise ModelUnavailable(
            f"model artifact {path} has format version {payload['format_version']!r}; "
            f"this code reads version {FORMAT_VERSION}: re-export it with this code"
        )
    if not isinstance(payload["version"], str) or not isinstance(payload["created_at"], datetime):
        raise ModelUnavailable(f"model artifact {path} has an invalid version or created_at")
    return ModelArtifact(
        version=payload["version"],
        created_at=payload["created_at"],
        model=payload["model"],
        config=dict(payload["config"]),
        metrics=dict(payload["metrics"]),
        data_stats=dict(payload["data_stats"]),
        format_version=payload["format_version"],
    )
