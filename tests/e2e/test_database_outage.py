"""PostgreSQL goes away and comes back: the service answers 503 quickly, stays alive, and recovers."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.proxy import TcpProxy
from tests.e2e.server import ServerProcess, poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# The documented bounds: a database call gives up half a second after the statement timeout (2 s
# by default), health answers within a second. A refused connection is answered at once.
OUTAGE_ANSWER_SECONDS = 3.0
HEALTH_ANSWER_SECONDS = 1.0


def timed(call: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call.request(method, path, **kwargs)
    return response, time.monotonic() - started


def test_an_outage_is_a_quick_503_and_the_service_recovers_by_itself(
    proxied_server: ServerProcess, proxy: TcpProxy, postgres_deployment: Deployment
) -> None:
    user = postgres_deployment.population.take()
    feed = {"user_id": str(user), "limit": 5, "context": {"exclude_seen": False}}
    with proxied_server.client(timeout=30) as http:
        # The model loads in the background: healthy once it has (and the database's id was read).
        poll_until(lambda: http.get("/health").json()["status"] == "healthy" or None, timeout=30)
        assert http.post("/recommendations/generate", json=feed).status_code == 200

        proxy.close()

        generate, generate_seconds = timed(http, "POST", "/recommendations/generate", json=feed)
        health, health_seconds = timed(http, "GET", "/health")
        ready = http.get("/health/ready")
        view = {
            "user_id": str(user),
            "post_id": str(postgres_deployment.population.post_ids[0]),
            "interaction_type": "view",
        }
        track, track_seconds = timed(http, "POST", "/interactions/track", json=view)
        live = http.get("/health/live")

        assert generate.status_code == 503, generate.text
        assert generate_seconds < OUTAGE_ANSWER_SECONDS
        assert generate.json()["error"] == "storage_unavailable"
        assert generate.headers.get("retry-after")
        assert health.status_code == 503
        assert health_seconds < HEALTH_ANSWER_SECONDS
        assert health.json()["status"] == "unhealthy"
        assert health.json()["database"]["ok"] is False
        assert health.json()["database"]["error"]
        assert ready.status_code == 503
        assert track.status_code == 503
        assert track_seconds < OUTAGE_ANSWER_SECONDS
        assert track.json()["error"] == "storage_unavailable"
        assert live.status_code == 200

        proxy.open()

        poll_until(
            lambda: True if http.post("/recommendations/generate", json=feed).status_code == 200 else None,
            timeout=20,
            interval=0.25,
            message="recommendations served again after the database came back",
        )
        assert http.get("/health").json()["status"] == "healthy"
        assert http.get("/health/ready").status_code == 200
        recovered = http.post("/interactions/track", json=view)
        assert recovered.status_code == 202, recovered.text
        assert recovered.json()["accepted"] == 1


def test_a_page_of_a_list_kept_in_memory_is_also_a_quick_503_then_served_again(
    proxied_server: ServerProcess, proxy: TcpProxy, postgres_deployment: Deployment
) -> None:
    """Such a page needs PostgreSQL only for the seen check, on the event loop's own pool."""
    user = postgres_deployment.population.take(precomputed=True)
    feed = {"user_id": str(user), "limit": 5}
    with proxied_server.client(timeout=30) as http:
        loaded = http.post("/recommendations/generate", json=feed)  # read from the database, kept
        kept = http.post("/recommendations/generate", json=feed)  # served from memory
        assert kept.json()["metadata"]["source"] == "precomputed"
        assert kept.json() | {"metadata": None} == loaded.json() | {"metadata": None}

        proxy.close()
        try:
            during, seconds = timed(http, "POST", "/recommendations/generate", json=feed)
        finally:
            proxy.open()

        assert during.status_code == 503, during.text
        assert seconds < OUTAGE_ANSWER_SECONDS
        assert during.json()["error"] == "storage_unavailable"
        poll_until(
            lambda: True if http.post("/recommendations/generate", json=feed).status_code == 200 else None,
            timeout=20,
            interval=0.25,
            message="pages of kept lists served again after the database came back",
        )
        assert (
            http.post("/recommendations/generate", json=feed).json()["recommendations"]
            == (kept.json()["recommendations"])
        )
