"""Loading verified models from the registry, and the hot-reload slot the service serves from."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from app.domain.entities import Recommendation
from app.domain.ports import ModelStore, RecommendationQuery, Recommender
from app.infrastructure.ml.artifact import ModelArtifact, read_artifact
from app.infrastructure.ml.artifact_check import ArtifactCheck
from app.infrastructure.ml.registry import DataSource, ModelRegistry, RegistryCorrupt
from app.shared.exceptions import ModelUnavailable

if TYPE_CHECKING:
    from app.infrastructure.ml.recommender import KnnRecommender

logger = logging.getLogger(__name__)


class VersionedRecommender:
    """A fitted model as the Recommender port, carrying the registry version it was loaded as."""

    def __init__(self, artifact: ModelArtifact, version: str) -> None:
        self._artifact = artifact
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @property
    def model(self) -> KnnRecommender:
        return self._artifact.model

    @property
    def trained_at(self) -> datetime:
        """The newest interaction the model learned from."""
        return self._artifact.model.trained_at

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._artifact.config)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._artifact.metrics)

    def recommend(self, query: RecommendationQuery) -> list[Recommendation]:
        return self._artifact.model.recommend(query)


class CheckedModelStore(ModelStore, Protocol):
    def verify(self, version: str) -> None:
        """Raises ModelUnavailable when `version`'s artifact on disk no longer matches the registry."""
        ...


class RegistryModelStore:
    """The ModelStore port over a ModelRegistry on disk.

    A service passes `identify`, which names its own database: the store then offers and loads
    only models trained on that database, whatever else is active. The database is asked once,
    on the first poll that reaches it. Without `identify` (tools that load a version by hand) any
    registered version loads and the active one is the most recently promoted of any source.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        identify: Callable[[], DataSource] | None = None,
        *,
        check: ArtifactCheck | None = None,
    ) -> None:
        self._registry = registry
        self._identify = identify
        self._source: DataSource | None = None
        self._check = check or ArtifactCheck()

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

    def verify(self, version: str) -> None:
        """Raises ModelUnavailable (ChecksumMismatch when its bytes changed) when `version`'s artifact
        is gone or no longer has the registry's sha256; a stat per call, see ArtifactCheck."""
        entry = self._registry.get(version)
        if entry is None:
            raise ModelUnavailable(f"model {version} is no longer in the registry {self._registry.path}")
        self._check.verify(self._registry.artifact_path(entry), entry.sha256)


class ModelHolder:
    """The serving side's model slot: swaps in a newly promoted model without a restart.

    A model that fails to load or verify never replaces the one being served. A failed
    version is not retried on every poll; registry versions are immutable, so only a
    different active version, or `retry_failed_after_seconds` passing (an artifact
    restored from backup), triggers another attempt. Every refresh also re-checks the served
    model's artifact on disk. `last_error` is rebuilt at each refresh, so a problem fixed since
    the last one is no longer reported.
    """

    def __init__(
        self,
        store: CheckedModelStore,
        *,
        retry_failed_after_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._retry_after = retry_failed_after_seconds
        self._monotonic = monotonic
        self._model: Recommender | None = None
        self._loading = True
        self._last_error: str | None = None
        self._problems: tuple[str, ...] = ()
        # (version, when, why) of the last version that failed to load.
        self._failed: tuple[str, float, str] | None = None
        self._swap_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def current(self) -> Recommender | None:
        with self._swap_lock:
            return self._model

    def require(self) -> Recommender:
        """The model being served; raises ModelUnavailable (with the reason) when there is none."""
        model = self.current()
        if model is None:
            raise ModelUnavailable(self.last_error or "no model loaded")
        return model

    @property
    def loading(self) -> bool:
        """True until the first refresh has finished: whether there is a model to serve is not
        known yet."""
        return self._loading

    @property
    def last_error(self) -> str | None:
        """What keeps the service from serving the registry's active model, verified on disk (for
        /health); None when all is well."""
        if self._loading and self._last_error is None:
            return "the active model is still loading"
        return self._last_error

    def refresh(self) -> bool:
        """Load the registry's active model if it changed and re-verify the served one's artifact;
        True when a new model was swapped in."""
        with self._refresh_lock:
            try:
                return self._refresh()
            finally:
                self._loading = False

    def _refresh(self) -> bool:
        problems: list[str] = []
        try:
            version = self._store.active_version()
        except (ModelUnavailable, OSError) as exc:
            # Keeping the old model beats serving nothing while the registry cannot be read.
            if isinstance(exc, RegistryCorrupt | OSError):
                self._report([f"cannot read the model registry ({self._serving_note()}), {exc}"])
            else:  # the database cannot say which it is
                self._report([f"{self._serving_note()}, {exc}"])
            return False
        swapped = False
        if version is None:
            problems.append(self._no_active_version())
        else:
            swapped = self._follow(version, problems)
        if not swapped:
            # First: /health shows the first problem, and a changed file is the one to look at.
            problems[:0] = self._verify_served()
        self._report(problems)
        return swapped

    def _no_active_version(self) -> str:
        if self.current() is None:
            return "no model is active in the registry for this database, train and promote one"
        return f"the registry has no active model, {self._serving_note()}"

    def _follow(self, version: str, problems: list[str]) -> bool:
        """Serve `version` if it is not served yet and loads; its failure goes to `problems`."""
        current = self.current()
        if current is not None and current.version == version:
            self._failed = None
            return False
        failed = self._failed
        if failed is not None and failed[0] == version and self._monotonic() - failed[1] < self._retry_after:
            problems.append(failed[2])
            return False
        try:
            model = self._store.load(version)
        except Exception as exc:  # a broken model must never take down serving
            # /health shows a message up to its first colon or semicolon, so the reason follows a comma.
            why = f"model {version} was not loaded ({self._serving_note()}), {exc}"
            self._failed = (version, self._monotonic(), why)
            problems.append(why)
            return False
        with self._swap_lock:
            self._model = model
        self._failed = None
        logger.info("serving model version %s", version)
        return True

    def _verify_served(self) -> list[str]:
        current = self.current()
        if current is None:
            return []
        try:
            self._store.verify(current.version)
        except (ModelUnavailable, OSError) as exc:
            return [f"the served model {current.version} failed its artifact check, {exc}"]
        return []

    def _serving_note(self) -> str:
        current = self.current()
        return f"still serving {current.version}" if current is not None else "no model is being served"

    def _report(self, problems: list[str]) -> None:
        # Log a problem once, not on every poll of the watch.
        for problem in problems:
            if problem not in self._problems:
                logger.error(problem)
        self._problems = tuple(problems)
        self._last_error = "; ".join(problems) or None
