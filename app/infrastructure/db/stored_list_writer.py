"""Write-behind for computed and served lists: requests hand them over and answer at once."""

from __future__ import annotations

import asyncio
import logging

from app.domain.entities import ServedList, StoredList
from app.domain.ports import ServedListRepository, StoredListRepository

logger = logging.getLogger(__name__)


class BackgroundListWriter:
    """A task on the event loop stores queued lists: stored lists newest per user, many users per
    transaction, and served lists.

    A full queue drops the list (the user's list is computed again next time, a cursor starts a
    new list) instead of making a request wait."""

    def __init__(
        self,
        lists: StoredListRepository,
        served: ServedListRepository,
        *,
        max_pending: int = 5000,
        batch: int = 50,
    ) -> None:
        self._lists = lists
        self._served = served
        self._queue: asyncio.Queue[StoredList | ServedList] = asyncio.Queue(maxsize=max_pending)
        self._batch = batch
        self.dropped = 0

    def save(self, stored: StoredList) -> None:
        self._put(stored)

    def save_served(self, served: ServedList) -> None:
        self._put(served)

    def _put(self, item: StoredList | ServedList) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("the stored-list writer is behind; %d lists dropped so far", self.dropped)

    async def flush(self) -> None:
        """Returns when everything handed over so far is written (or has failed)."""
        await self._queue.join()

    async def run(self) -> None:
        """Stores lists until cancelled."""
        while True:
            items = [await self._queue.get()]
            while len(items) < self._batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            # A newer list for the same user wins.
            latest = {s.user_id: s for s in items if isinstance(s, StoredList)}
            served = {s.id: s for s in items if isinstance(s, ServedList)}
            try:
                if latest:
                    await self._lists.store(list(latest.values()))
                if served:
                    await self._served.save(list(served.values()))
            except Exception:  # the database may be down; these lists are only a cache
                logger.exception("could not store %d lists", len(latest) + len(served))
            finally:
                for _ in items:
                    self._queue.task_done()
