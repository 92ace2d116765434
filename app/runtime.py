"""What runs while the service serves: the database pools, the stored-list writer, the model
registry watch and the expired-row cleanup. Started and stopped by the app's lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable

from anyio import CapacityLimiter, to_thread

from app.bootstrap import Container
from app.shared import metrics
from app.shared.exceptions import StorageUnavailable

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, container: Container) -> None:
        self._container = container
        self._tasks: list[asyncio.Task[None]] = []
        # Model loads take their own thread, never one a request is waiting for.
        self._loader = CapacityLimiter(1)

    async def start(self) -> None:
        """Opens the pools, loads the active model, then starts the background tasks."""
        c = self._container
        await c.stores.open()
        self._tasks.append(asyncio.create_task(c.writer.run(), name="stored-list-writer"))
        await self.refresh_model()
        self._every(c.settings.model.reload_interval_seconds, self.refresh_model, "model-watch")
        self._every(c.settings.cleanup_interval_seconds, self._cleanup, "ttl-cleanup")

    async def stop(self) -> None:
        c = self._container
        background, writer = self._tasks[1:], self._tasks[:1]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        try:
            await asyncio.wait_for(c.writer.flush(), timeout=5)
        except TimeoutError:
            logger.warning("stopping with stored lists not yet written")
        for task in writer:
            task.cancel()
        await asyncio.gather(*writer, return_exceptions=True)
        self._tasks.clear()
        await c.stores.close()
        metrics.forget_this_process()

    async def refresh_model(self) -> None:
        """Swaps in the active model if it changed; reads the database's id first while unknown."""
        c = self._container
        if c.own_database.source is None:
            try:
                c.own_database.know(await c.stores.database_id())
            except StorageUnavailable as error:
                logger.warning("cannot read the database id yet: %s", error)
        await to_thread.run_sync(self._swap_model, limiter=self._loader)

    def _swap_model(self) -> None:
        models = self._container.models
        before = models.current()
        previous = before.version if before else None
        models.refresh()
        after = models.current()
        if after is not before:
            del before  # the old model must be garbage before the collection below
            _freeze_long_lived_objects()
        metrics.set_model_version(previous, after.version if after else None)

    async def _cleanup(self) -> None:
        deleted = await self._container.cleanup.execute()
        if deleted:
            logger.info("deleted expired recommendations", extra={"rows": deleted})

    def _every(self, seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
        if seconds <= 0:
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception:  # a background loop must outlive any one failure
                    logger.exception("background job %s failed; retrying next interval", name)

        self._tasks.append(asyncio.create_task(loop(), name=name))


def _freeze_long_lived_objects() -> None:
    """Takes the loaded model out of the garbage collector's sight.

    A model is hundreds of thousands of objects that live until the next swap; every full
    collection walked them all, stalling each request in flight. The previous model's objects are
    unfrozen and collected first, so a reload leaks nothing.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
