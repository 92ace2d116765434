"""Write-behind for computed recommendation lists: requests hand them over and answer at once."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.domain.entities import Recommendation
from app.domain.ports import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    user_id: UUID
    recommendations: Sequence[Recommendation]
    model_version: str
    generated_at: datetime
    expires_at: datetime


class BackgroundRecommendationWriter:
    """A daemon thread stores queued lists, newest per user, many users per transaction.

    A full queue drops the list (the user is recomputed next time) instead of blocking a request.
    """

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], *, max_pending: int = 5000, batch: int = 50
    ) -> None:
        self._uow_factory = uow_factory
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_pending)
        self._batch = batch
        self._thread = threading.Thread(target=self._run, name="recommendation-writer", daemon=True)
        self._thread.start()
        self.dropped = 0

    def save(
        self,
        user_id: UUID,
        recommendations: Sequence[Recommendation],
        *,
        model_version: str,
        generated_at: datetime,
        expires_at: datetime,
    ) -> None:
        try:
            self._queue.put_nowait(
                _Pending(user_id, recommendations, model_version, generated_at, expires_at)
            )
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("recommendation writer is behind; %d lists dropped so far", self.dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything handed over so far is written (or has failed); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            items = [first]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending = [i for i in items if i is not None]
            try:
                self._write(pending)
            except Exception:  # the database may be down; these lists are only a cache
                logger.exception("could not store %d recommendation lists", len(pending))
            finally:
                for _ in items:
                    self._queue.task_done()
            if len(pending) < len(items):
                return

    def _write(self, pending: list[_Pending]) -> None:
        latest = {p.user_id: p for p in pending}  # a newer list for the same user wins
        if not latest:
            return
        with self._uow_factory() as uow:
            for p in latest.values():
                uow.recommendations.replace_for_user(
                    p.user_id,
                    p.recommendations,
                    model_version=p.model_version,
                    generated_at=p.generated_at,
                    expires_at=p.expires_at,
                )
            uow.commit()
