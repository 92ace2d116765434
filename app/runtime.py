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
        self._first_load = asyncio.Event()

    async def start(self) -> None:
        """Opens the pools and starts the background tasks. The active model loads in the
        background: the service answers /health/live at once, and /health/ready once that first
        load has finished (`wait_for_model`)."""
        c = self._container
        await c.stores.open()
        self._tasks.append(asyncio.create_task(c.writer.run(), name="stored-list-writer"))
        self._tasks.append(asyncio.create_task(self._watch_models(), name="model-watch"))
        self._every(c.settings.cleanup_interval_seconds, self._cleanup, "ttl-cleanup")

    async def wait_for_model(self) -> None:
        """Returns once the first load of the active model has finished, loaded or not."""
        await self._first_load.wait()

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

    async def _watch_models(self) -> None:
        """The first load at once, then a registry poll every reload interval (0: no polls)."""
        try:
            await self.refresh_model()
        except Exception:  # the service keeps answering without a model; the next poll retries
            logger.exception("loading the active model failed; retrying next interval")
        finally:
            self._first_load.set()
        seconds = self._container.settings.model.reload_interval_seconds
        if seconds > 0:
            await self._repeat(seconds, self.refresh_model, "model-watch")

    async def _cleanup(self) -> None:
        deleted = await self._container.cleanup.execute()
        if deleted:
            logger.info("deleted expired recommendations", extra={"rows": deleted})

    def _every(self, seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
        if seconds > 0:
            self._tasks.append(asyncio.create_task(self._repeat(seconds, job, name), name=name))

    @staticmethod
    async def _repeat(seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:  # a background loop must outlive any one failure
                logger.exception("background job %s failed; retrying next interval", name)


def _freeze_long_lived_objects() -> None:
    """Takes the loaded model out of the garbage collector's sight.

    A model is hundreds of thousands of objects that live until the next swap; every full
    collection walked them all, stalling each request in flight. The previous model's objects are
    unfrozen and collected first, so a reload leaks nothing.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
