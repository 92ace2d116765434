"""Loading verified models from the registry, and the hot-reload slot the service serves from."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.domain.entities import Recommendation
from app.domain.ports import ModelStore, RecommendationQuery, Recommender
from app.infrastructure.ml.artifact import ModelArtifact, read_artifact
from app.infrastructure.ml.registry import DataSource, ModelRegistry
from app.shared.exceptions import ModelUnavailable

logger = logging.getLogger(__name__)


class VersionedRecommender:
    """A fitted model as the Recommender port, carrying the registry version it was loaded as."""

    def __init__(self, artifact: ModelArtifact, version: str) -> None:
        recommend = getattr(artifact.model, "recommend", None)
        if not callable(recommend):
            raise ModelUnavailable(
                f"model {version} ({type(artifact.model).__name__}) has no recommend(query) method"
            )
        self._recommend: Callable[[RecommendationQuery], list[Recommendation]] = recommend
        self._artifact = artifact
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @property
    def model(self) -> object:
        return self._artifact.model

    @property
    def trained_at(self) -> datetime:
        """The model's own `trained_at` when it has one, else when the artifact was exported."""
        trained_at = getattr(self._artifact.model, "trained_at", None)
        return trained_at if isinstance(trained_at, datetime) else self._artifact.created_at

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._artifact.config)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._artifact.metrics)

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        return self._recommend(query)


class RegistryModelStore:
    """The ModelStore port over a ModelRegistry on disk.

    A service passes `identify`, which names its own database: the store then offers and loads
    only models trained on that database, whatever else is active. The database is asked once,
    on the first poll that reaches it. Without `identify` (tools that load a version by hand) any
    registered version loads and the active one is the most recently promoted of any source.
    """

    def __init__(self, registry: ModelRegistry, identify: Callable[[], DataSource] | None = None) -> None:
        self._registry = registry
        self._identify = identify
        self._source: DataSource | None = None

    def data_source(self) -> DataSource | None:
        """The data this store serves models of (None when unbound); raises ModelUnavailable
        while the database cannot say which it is."""
        if self._identify is None or self._source is not None:
            return self._source
        try:
            self._source = self._identify()
        except Exception as exc:  # whatever the database says, serving must go on without a model
            raise ModelUnavailable(
                f"cannot read this service's database id, so no model can be chosen yet "
                f"(retried on the next registry poll): {exc}"
            ) from exc
        return self._source

    def active_version(self) -> str | None:
        """The active version for this store's database; cheap to poll (the registry caches by file
        identity). Raises ModelUnavailable when registry.json cannot be parsed or the database id
        cannot be read.
        """
        if self._identify is None:
            return self._registry.active_version()
        entry = self._registry.active_for(self.data_source())
        return entry.version if entry is not None else None

    def load(self, version: str) -> VersionedRecommender:
        """Load and verify `version`; raises ModelUnavailable (ChecksumMismatch on a hash mismatch),
        also for a model trained on data other than this store's database."""
        entry = self._registry.get(version)
        if entry is None:
            raise ModelUnavailable(f"model version {version!r} is not in the registry {self._registry.path}")
        if self._identify is not None:
            own = self.data_source()
            if own is None or entry.source_key != own.key:
                trained_on = entry.data_source or "data of unknown origin"
                raise ModelUnavailable(
                    f"model {version} was trained on {trained_on}, not on this service's database ({own})"
                )
        artifact = read_artifact(self._registry.artifact_path(entry), entry.sha256)
        if artifact.version != version:
            raise ModelUnavailable(
                f"artifact {entry.filename} holds version {artifact.version!r}, registered as {version!r}"
            )
        return VersionedRecommender(artifact, version)


class ModelHolder:
    """The serving side's model slot: swaps in a newly promoted model without a restart.

    A model that fails to load or verify never replaces the one being served. A failed
    version is not retried on every poll; registry versions are immutable, so only a
    different active version, or `retry_failed_after_seconds` passing (an artifact
    restored from backup), triggers another attempt.
    """

    def __init__(
        self,
        store: ModelStore,
        *,
        retry_failed_after_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._retry_after = retry_failed_after_seconds
        self._monotonic = monotonic
        self._model: Recommender | None = None
        self._last_error: str | None = "no model loaded yet"
        self._failed: tuple[str, float] | None = None
        self._swap_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def current(self) -> Recommender | None:
        with self._swap_lock:
            return self._model

    def require(self) -> Recommender:
        """The model being served; raises ModelUnavailable (with the reason) when there is none."""
        model = self.current()
        if model is None:
            raise ModelUnavailable(self._last_error or "no model loaded")
        return model

    @property
    def last_error(self) -> str | None:
        """Why the active model is not being served (for /health); None when all is well."""
        return self._last_error

    def refresh(self) -> bool:
        """Load the registry's active model if it changed; True when a new model was swapped in."""
        with self._refresh_lock:
            version = self._active_version()
            if version is None:
                return False
            current = self.current()
            if current is not None and current.version == version:
                self._last_error = None  # the registry reads again and names the served model
                return False
            if self._failed_recently(version):
                return False
            try:
                model = self._store.load(version)
            except Exception as exc:  # a broken model must never take down serving
                self._failed = (version, self._monotonic())
                self._report(f"model {version} was not loaded, {self._serving_note()}: {exc}")
                return False
            with self._swap_lock:
                self._model = model
            self._failed = None
            self._last_error = None
            logger.info("serving model version %s", version)
            return True

    def _active_version(self) -> str | None:
        try:
            version = self._store.active_version()
        except (ModelUnavailable, OSError) as exc:
            self._report(f"cannot read the model registry, {self._serving_note()}: {exc}")
            return None
        if version is None and self.current() is None:
            self._report("no model is active in the registry for this database; train and promote one")
        elif version is None:
            # Keeping the old model beats serving nothing when the registry loses its pointer.
            self._report(f"the registry has no active model, {self._serving_note()}")
        return version

    def _failed_recently(self, version: str) -> bool:
        if self._failed is None or self._failed[0] != version:
            return False
        return self._monotonic() - self._failed[1] < self._retry_after

    def _serving_note(self) -> str:
        current = self.current()
        return f"still serving {current.version}" if current is not None else "no model is being served"

    def _report(self, message: str) -> None:
        # Log a problem once, not on every poll of the watch.
        if message != self._last_error:
            logger.error(message)
        self._last_error = message
