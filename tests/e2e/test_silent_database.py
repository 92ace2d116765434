"""PostgreSQL cut off at the network (connections accepted, nothing answered): every route that
needs the database answers 503 within the documented bound, health within a second, and the
service recovers by itself once the database answers again."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.proxy import TcpProxy
from tests.e2e.server import ServerProcess, poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# The documented bounds, with the defaults: a route that needs the database, and health.
ROUTE_SECONDS = 3.0
HEALTH_SECONDS = 1.0
# "Recovers by itself within a few seconds" once the database answers again.
RECOVERY_SECONDS = 5.0
SERVED = (200, 201, 202, 204)
# Long enough for a hung request to be seen as hung rather than as a transport error.
CLIENT_SECONDS = 30.0


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    body: Any = None


@dataclass(frozen=True)
class Answer:
    call: Call
    status: int
    seconds: float
    body: Any


def send(http: httpx.Client, call: Call) -> Answer:
    """The answer and how long it took; status 0 when none came within CLIENT_SECONDS."""
    started = time.monotonic()
    try:
        response = http.request(call.method, call.path, json=call.body)
    except httpx.TimeoutException:
        return Answer(call, 0, time.monotonic() - started, None)
    seconds = time.monotonic() - started
    return Answer(call, response.status_code, seconds, response.json() if response.content else None)


def send_all(http: httpx.Client, calls: list[Call]) -> list[Answer]:
    """All at once, as traffic arrives."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: send(http, call), calls))


def healthy(http: httpx.Client) -> bool | None:
    """Whether the server is healthy: its model loads in the background, after the database's id
    is read."""
    return True if http.get("/health").json()["status"] == "healthy" else None


def database_calls(deployment: Deployment, cursor: str, cursor_user: uuid.UUID) -> list[Call]:
    """One call of every route that needs the database, each of its own user or post."""
    population = deployment.population
    stored, computed = population.take(precomputed=True), population.take()
    post = str(population.post_ids[1])
    now = datetime.now(UTC).isoformat()

    def feed(user: uuid.UUID, **extra: Any) -> dict[str, Any]:
        return {"user_id": str(user), "limit": 5, **extra}

    def view(user: uuid.UUID) -> dict[str, Any]:
        return {"user_id": str(user), "post_id": post, "interaction_type": "view"}

    def new_post() -> dict[str, Any]:
        return {"author_id": str(stored), "content": "silent", "created_at": now}

    return [
        Call("stored page", "POST", "/recommendations/generate", feed(stored)),
        Call("computed page", "POST", "/recommendations/generate", feed(computed)),
        Call("cold-start page", "POST", "/recommendations/generate", feed(uuid.uuid4())),
        Call("cursor page", "POST", "/recommendations/generate", feed(cursor_user, cursor=cursor)),
        Call("older client's read", "GET", f"/recommendations/{population.take()}?limit=5"),
        Call("track one", "POST", "/interactions/track", view(population.take())),
        Call("track a batch", "POST", "/interactions/track", {"interactions": [view(computed)] * 3}),
        Call("put user", "PUT", f"/users/{uuid.uuid4()}", {"username": f"silent-{uuid.uuid4().hex}"}),
        Call("erase user", "DELETE", f"/users/{uuid.uuid4()}"),
        Call("put post", "PUT", f"/posts/{uuid.uuid4()}", new_post()),
        Call("put posts", "PUT", "/posts", {"posts": [new_post() | {"id": str(uuid.uuid4())}]}),
        Call("delete post", "DELETE", f"/posts/{uuid.uuid4()}"),
    ]


HEALTH = [Call("health", "GET", "/health"), Call("ready", "GET", "/health/ready")]


def report(title: str, answers: list[Answer]) -> None:
    print(f"\n{title}")
    for answer in sorted(answers, key=lambda a: -a.seconds):
        print(f"  {answer.call.name:22} {answer.status} {answer.seconds:6.3f} s")


def assert_unavailable(answers: list[Answer], bound: float) -> None:
    wrong = [a for a in answers if a.status != 503 or a.seconds >= bound]
    assert not wrong, [(a.call.name, a.status, round(a.seconds, 3), a.body) for a in wrong]


def test_a_silent_database_is_a_quick_503_everywhere_and_the_service_recovers_by_itself(
    proxied_server: ServerProcess, proxy: TcpProxy, postgres_deployment: Deployment
) -> None:
    population = postgres_deployment.population
    scroller = population.take()
    # One client shared by every thread (httpx's is thread-safe): what is timed is the service.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=proxied_server.base_url, timeout=CLIENT_SECONDS, limits=limits) as http:
        poll_until(partial(healthy, http), timeout=30, message="a healthy server")
        first = http.post("/recommendations/generate", json={"user_id": str(scroller), "limit": 5})
        assert first.status_code == 200, first.text
        cursor = first.json()["metadata"]["next_cursor"]
        # Every pool holds connections when the database goes silent: the health probes' own (above),
        # the reads' and the writes'.
        warm = send_all(http, database_calls(postgres_deployment, cursor, scroller))
        assert not [a for a in warm if a.status not in SERVED], [a for a in warm if a.status not in SERVED]
        calls = database_calls(postgres_deployment, cursor, scroller)

        proxy.silence()
        try:
            # Every route at once, then a burst of health probes while the routes wait on the
            # database: health has a connection of its own and does not queue behind them.
            with ThreadPoolExecutor(max_workers=len(calls) + 20) as pool:
                routes = [pool.submit(send, http, call) for call in calls]
                time.sleep(0.3)
                probes = [pool.submit(send, http, HEALTH[i % 2]) for i in range(20)]
                during = [future.result() for future in routes]
                health = [future.result() for future in probes]
            # Again: now no connection is left to reuse, every call connects anew.
            again = send_all(http, calls + HEALTH)
            live = http.get("/health/live")
        finally:
            proxy.forward()
        report("silent database, every route at once", during + health)
        report("silent database, again: no connection left", again)

        assert_unavailable(during, ROUTE_SECONDS)
        assert_unavailable(again[: len(calls)], ROUTE_SECONDS)
        assert_unavailable(health + again[len(calls) :], HEALTH_SECONDS)
        for answer in during + again[: len(calls)]:
            assert answer.body["error"] == "storage_unavailable", answer
        for answer in (a for a in health + again if a.call.name == "health"):
            assert answer.body["status"] == "unhealthy"
            assert answer.body["database"]["ok"] is False
            assert answer.body["database"]["error"]
        assert live.status_code == 200

        restored = time.monotonic()
        # Fresh users and posts, so that every call does what it did before the outage.
        recovery = database_calls(postgres_deployment, cursor, scroller) + HEALTH

        def everything_served() -> list[Answer] | None:
            answers = [send(http, call) for call in recovery]
            return answers if all(a.status in SERVED for a in answers) else None

        after = poll_until(
            everything_served,
            timeout=RECOVERY_SECONDS,
            interval=0.1,
            message="every route served again after the database answered again",
        )
        recovered = time.monotonic() - restored
        report(f"database answers again: every route served after {recovered:.2f} s", after)
        assert recovered < RECOVERY_SECONDS
        assert http.get("/health").json()["status"] == "healthy"
