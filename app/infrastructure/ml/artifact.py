"""The model artifact format: one self-contained, checksummed file per model version that
runs no code when it is read, whoever wrote it.

On disk an artifact is a zip archive (`model_<version>.npz`, stored uncompressed):

- `artifact.json`: format and model version, when it was exported, config, metrics, data
  statistics and the model's own state (model_state.py): parameters, id maps, vocabulary;
- `<name>.npy`: one numeric array each, in NumPy's format, read with pickles refused.

Reading parses JSON and numbers only; the loader still checks the registry's sha256 first, so a
file changed after export is refused before it is parsed. Pickles, the format of earlier
versions, are recognised and refused with a message to retrain.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.shared.exceptions import ChecksumMismatch, ModelUnavailable

if TYPE_CHECKING:
    from app.infrastructure.ml.recommender import KnnRecommender

FORMAT_VERSION = 2
ARTIFACT_SUFFIX = ".npz"
# Temporary files start with ".tmp" so .gitignore (models/.tmp*) leaves them out of git.
TEMP_PREFIX = ".tmp-"
RETRAIN = "retrain with `ml-service train` and promote the new model"

_DOCUMENT = "artifact.json"
_ARRAY_SUFFIX = ".npy"
# A fixed time in every zip entry: the same model always gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL_2_AND_LATER = b"\x80"
# What a file that is not the artifact its JSON says can make the reader raise.
_INVALID = (ValueError, KeyError, TypeError, AttributeError, EOFError, OSError, RecursionError)


@dataclass(frozen=True)
class ModelArtifact:
    """A fitted model plus everything needed to serve and audit it."""

    version: str
    created_at: datetime
    model: KnnRecommender
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
    """Write `artifact` atomically to `path`; returns the sha256 hex of the bytes written.

    Raises TypeError for a model this format cannot store or a value JSON cannot hold."""
    data = encode_artifact(artifact)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def encode_artifact(artifact: ModelArtifact) -> bytes:
    """The artifact's bytes: the same model always gives the same bytes."""
    # numpy, scipy and the model code load with the first artifact, not with the service.
    from numpy.lib import format as npy

    from app.infrastructure.ml.arrays import ArtifactArrays
    from app.infrastructure.ml.model_state import model_state
    from app.infrastructure.ml.recommender import KnnRecommender

    if not isinstance(artifact.model, KnnRecommender) or not hasattr(artifact.model, "engine_"):
        raise TypeError(
            f"{type(artifact.model).__name__} cannot be stored: an artifact holds a fitted KnnRecommender"
        )
    arrays = ArtifactArrays()
    document = {
        "format_version": artifact.format_version,
        "version": artifact.version,
        "created_at": artifact.created_at.isoformat(),
        "config": artifact.config,
        "metrics": artifact.metrics,
        "data_stats": artifact.data_stats,
        "model": model_state(artifact.model, arrays.scope("model")),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        text = json.dumps(document, ensure_ascii=False, default=_number)
        archive.writestr(zipfile.ZipInfo(_DOCUMENT, _ZIP_TIME), text.encode("utf-8"))
        for name, array in arrays.arrays.items():
            with archive.open(
                zipfile.ZipInfo(name + _ARRAY_SUFFIX, _ZIP_TIME), "w", force_zip64=True
            ) as member:
                npy.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def _number(value: object) -> object:
    if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def read_artifact(path: Path, expected_sha256: str) -> ModelArtifact:
    """Read, verify and parse an artifact.

    The sha256 is checked before anything is parsed. Raises ChecksumMismatch on a hash
    mismatch and ModelUnavailable when the file is missing, unreadable, a pickle of an earlier
    version, not an artifact or of an unknown format version.
    """
    try:
        # Hash and parse the same bytes in memory: re-reading the file after the check
        # would let a file swapped in between slip through unverified.
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelUnavailable(
            f"model artifact is missing, restore it or export and promote another version: {path}"
        ) from None
    except OSError as exc:
        raise ModelUnavailable(f"model artifact cannot be read: {path}: {exc}") from exc
    actual = sha256_hex(data)
    if actual != expected_sha256.strip().lower():
        raise ChecksumMismatch(
            "model artifact does not match the registry's sha256 (changed after export) and was NOT "
            "loaded, restore the original file or export and promote a new version: "
            f"{path} has sha256 {actual}, the registry expects {expected_sha256}"
        )
    return decode_artifact(data, path)


def decode_artifact(data: bytes, path: Path) -> ModelArtifact:
    """The artifact in `data` (read from `path`, named in errors); runs no code from the file."""
    # /health shows a message up to its first colon or semicolon: what happened and what to do
    # come first, paths and details after.
    if data.startswith(_PICKLE_PROTOCOL_2_AND_LATER):
        raise ModelUnavailable(
            "model artifact is a pickle from an earlier version and is never loaded (a pickle can "
            f"run any code), {RETRAIN}: {path}"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise ModelUnavailable(f"file is not a model artifact of this version, {RETRAIN}: {path}")
    try:
        return _parse(data, path)
    except ModelUnavailable:
        raise
    except (*_INVALID, zipfile.BadZipFile) as exc:
        # One line: the service logs it and /health shows its first part.
        reason = " ".join(str(exc).split())
        raise ModelUnavailable(
            f"model artifact is not valid and was not loaded, {RETRAIN}: {path}: "
            f"{type(exc).__name__}: {reason}"
        ) from exc


def _parse(data: bytes, path: Path) -> ModelArtifact:
    from numpy.lib import format as npy

    from app.infrastructure.ml.arrays import ArtifactArrays
    from app.infrastructure.ml.model_state import model_from_state

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = json.loads(archive.read(_DOCUMENT))
        if not isinstance(document, dict):
            raise TypeError(f"{_DOCUMENT} is not an object")
        if document.get("format_version") != FORMAT_VERSION:
            raise ModelUnavailable(
                f"model artifact is of another format version than this code reads ({FORMAT_VERSION}), "
                f"{RETRAIN}: {path} has format version {document.get('format_version')!r}"
            )
        arrays = ArtifactArrays()
        for name in archive.namelist():
            if name.endswith(_ARRAY_SUFFIX):
                with archive.open(name) as member:
                    arrays.arrays[name.removesuffix(_ARRAY_SUFFIX)] = npy.read_array(
                        member, allow_pickle=False
                    )
    return ModelArtifact(
        version=_text(document["version"]),
        created_at=datetime.fromisoformat(_text(document["created_at"])),
        model=model_from_state(document["model"], arrays.scope("model")),
        config=dict(document["config"]),
        metrics={str(name): float(value) for name, value in dict(document["metrics"]).items()},
        data_stats=dict(document["data_stats"]),
        format_version=FORMAT_VERSION,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {type(value).__name__}")
    return value
