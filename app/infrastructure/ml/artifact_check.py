"""Re-verifying the artifact a served model was loaded from: a stat per poll, a hash when needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from app.infrastructure.ml.artifact import file_sha256
from app.shared.exceptions import ChecksumMismatch, ModelUnavailable


class ArtifactCheck:
    """Re-verifies the artifact a model was loaded from, cheaply enough to run at every poll.

    Each check is a stat; the file is hashed again only when its identity (device, inode, size,
    modification and change times) differs from the last verified one, or `rehash_after_seconds`
    passed since the last full hash (catching a change that kept every one of those).
    """

    def __init__(
        self,
        *,
        rehash_after_seconds: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
        sha256_of: Callable[[Path], str] = file_sha256,
    ) -> None:
        self._rehash_after = rehash_after_seconds
        self._monotonic = monotonic
        self._sha256_of = sha256_of
        self._verified: tuple[tuple[object, ...], float] | None = None

    def verify(self, path: Path, expected_sha256: str) -> None:
        """Raises ChecksumMismatch when the file's bytes changed, ModelUnavailable when it is gone
        or unreadable."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise ModelUnavailable(
                "model artifact is missing (deleted or moved after it was loaded), the loaded model keeps "
                f"serving until the file is restored or another version promoted: {path}"
            ) from None
        except OSError as exc:
            raise ModelUnavailable(f"model artifact cannot be read: {path}: {exc}") from exc
        identity: tuple[object, ...] = (str(path), expected_sha256, info.st_dev, info.st_ino)
        identity += (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        now = self._monotonic()
        last = self._verified
        if last is not None and last[0] == identity and now - last[1] < self._rehash_after:
            return
        self._verified = None
        try:
            actual = self._sha256_of(path)
        except OSError as exc:
            raise ModelUnavailable(f"model artifact cannot be read: {path}: {exc}") from exc
        if actual != expected_sha256.strip().lower():
            raise ChecksumMismatch(
                "model artifact changed on disk after it was loaded (its sha256 no longer matches the "
                "registry), the loaded model keeps serving until the file is restored or another version "
                f"promoted: {path} has sha256 {actual}, the registry expects {expected_sha256}"
            )
        self._verified = (identity, now)
