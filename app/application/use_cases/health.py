"""Health: can the service serve, and how well."""

from __future__ import annotations

from app.application.dto import HealthReport, HealthState
from app.application.ports import DatabaseProbe, ModelProvider
from app.domain.ports import Clock
from app.shared.exceptions import StorageUnavailable


class CheckHealth:
    def __init__(self, probe: DatabaseProbe, models: ModelProvider, clock: Clock) -> None:
        self._probe = probe
        self._models = models
        self._clock = clock

    async def execute(self) -> HealthReport:
        """Unhealthy without a database; degraded without a model (cold start only); else healthy."""
        database_error: str | None = None
        try:
            await self._probe()
        except StorageUnavailable as error:
            database_error = str(error)
        model = self._models.current()
        if database_error is not None:
            status = HealthState.UNHEALTHY
        elif model is None:
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
        )
