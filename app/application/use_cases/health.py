"""Health: can the service serve, and how well."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.application.dto import HealthReport, HealthState
from app.application.ports import DatabaseProbe, ModelProvider
from app.domain.ports import Clock
from app.shared.exceptions import StorageUnavailable


class CheckHealth:
    def __init__(
        self,
        probe: DatabaseProbe,
        models: ModelProvider,
        clock: Clock,
        *,
        wait: timedelta = timedelta(milliseconds=500),
    ) -> None:
        self._probe = probe
        self._models = models
        self._clock = clock
        self._wait = wait
        self._probing: asyncio.Task[str | None] | None = None

    async def execute(self) -> HealthReport:
        """Unhealthy without a database; degraded without a model (cold start only) or with a
        model problem (a refused promotion, an unreadable registry, a changed artifact); else healthy."""
        database_error = await self._database_error()
        model = self._models.current()
        if database_error is not None:
            status = HealthState.UNHEALTHY
        elif model is None or self._models.last_error is not None:
            # Serving, but not the registry's active model verified on disk (model_error says why).
            status = HealthState.DEGRADED
        else:
            status = HealthState.HEALTHY
        return HealthReport(
            status=status,
            timestamp=self._clock.now(),
            model_version=model.version if model else None,
            model_loaded=model is not None,
            database_ok=database_error is None,
            database_error=database_error,
            model_error=self._models.last_error,
            model_loading=self._models.loading,
        )

    async def _database_error(self) -> str | None:
        """What is wrong with the database (None: nothing), known within `wait` whatever it does.

        Checks at once share one probe, so a burst of checks asks the database once and never
        queues; a probe not answered within `wait` is reported as such and goes on, and checks
        until it ends wait on it rather than ask again. No answer is given again once its probe
        has ended: it would be stale."""
        if self._probing is None:
            self._probing = asyncio.ensure_future(self._ask_database())
        try:
            return await asyncio.wait_for(asyncio.shield(self._probing), self._wait.total_seconds())
        except TimeoutError:
            return f"database unavailable: no answer within {self._wait.total_seconds():g} s"

    async def _ask_database(self) -> str | None:
        try:
            await self._probe()
        except StorageUnavailable as error:
            return str(error)
        finally:
            self._probing = None
        return None
