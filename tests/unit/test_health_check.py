"""The health check asks the database once for a burst of checks and waits on it no longer than it
is told."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.application.dto import HealthState
from app.application.use_cases.health import CheckHealth
from app.shared.exceptions import StorageUnavailable
from tests.fakes import FakeModelProvider, FakeRecommender, FixedClock

pytestmark = pytest.mark.anyio


class HeldDatabase:
    """A database probe that answers (or fails) only once released; counts the questions."""

    def __init__(self, *, released: bool = True, error: str | None = None) -> None:
        self.asked = 0
        self.answered = 0
        self.error = error
        self._release = asyncio.Event()
        if released:
            self._release.set()

    def release(self) -> None:
        self._release.set()

    async def __call__(self) -> None:
        self.asked += 1
        await self._release.wait()
        self.answered += 1
        if self.error:
            raise StorageUnavailable(self.error)


def check(database: HeldDatabase, *, wait: timedelta = timedelta(minutes=1)) -> CheckHealth:
    return CheckHealth(database, FakeModelProvider(FakeRecommender({})), FixedClock(), wait=wait)


async def until_answered(database: HeldDatabase) -> None:
    while not database.answered:
        await asyncio.sleep(0)


async def test_checks_at_once_share_one_question_to_the_database_and_later_ones_ask_again() -> None:
    database = HeldDatabase(released=False)
    health = check(database)
    checks = [asyncio.ensure_future(health.execute()) for _ in range(10)]
    await asyncio.sleep(0)
    database.release()
    reports = await asyncio.gather(*checks)
    assert {report.status for report in reports} == {HealthState.HEALTHY}
    assert database.asked == 1
    # An answer is not given again once its probe has ended: it would be stale.
    database.error = "connection refused"
    assert (await health.execute()).database_error == "connection refused"
    assert database.asked == 2


async def test_a_database_not_answering_in_time_is_unhealthy_and_asked_again_once_it_answers() -> None:
    database = HeldDatabase(released=False)
    health = check(database, wait=timedelta(0))
    reports = [await health.execute(), await health.execute()]
    assert database.asked == 1
    database.release()
    await until_answered(database)
    reports.append(await health.execute())
    assert database.asked == 2
    for report in reports:
        assert (report.status, report.database_error) == (
            HealthState.UNHEALTHY,
            "database unavailable: no answer within 0 s",
        )
