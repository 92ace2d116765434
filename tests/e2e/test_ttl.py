"""Precomputed rows live for the TTL: then the model computes again, and the cleanup deletes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.server import ServerProcess, poll_until

pytestmark = pytest.mark.e2e

TTL_SECONDS = 2


@pytest.fixture(scope="module")
def short_ttl_server(deployment: Deployment) -> Iterator[ServerProcess]:
    process = deployment.start_server(
        f"ttl-{deployment.backend}",
        ML_RECOMMENDATION_TTL_SECONDS=str(TTL_SECONDS),
        ML_CLEANUP_INTERVAL_SECONDS="0.5",
    )
    yield process
    process.stop()


def source_of(http: httpx.Client, user: uuid.UUID) -> str:
    response = http.post("/recommendations/generate", json={"user_id": str(user), "limit": 5})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return str(body["metadata"]["source"])


def test_after_the_ttl_the_model_computes_the_feed_again(
    short_ttl_server: ServerProcess, deployment: Deployment
) -> None:
    user = deployment.population.take()
    with short_ttl_server.client() as http:
        assert source_of(http, user) == "model"
        poll_until(
            lambda: True if source_of(http, user) == "precomputed" else None,
            timeout=TTL_SECONDS,
            interval=0.05,
            message="the computed list stored (write-behind)",
        )

        poll_until(
            lambda: True if source_of(http, user) == "model" else None,
            timeout=TTL_SECONDS + 10,
            interval=0.25,
            message="the feed computed again after the TTL",
        )


def test_expired_rows_are_deleted_by_the_cleanup(
    short_ttl_server: ServerProcess, deployment: Deployment
) -> None:
    user = deployment.population.take()
    with short_ttl_server.client() as http:
        assert source_of(http, user) == "model"

    def stored_rows() -> int:
        rows = deployment.query(
            "SELECT count(*) FROM user_recommendation WHERE user_id = :u", u=_db_uuid(deployment, user)
        )
        return int(rows[0][0])

    poll_until(lambda: True if stored_rows() > 0 else None, timeout=10, interval=0.05, message="rows stored")
    poll_until(
        lambda: True if stored_rows() == 0 else None,
        timeout=TTL_SECONDS + 10,
        interval=0.25,
        message="expired rows deleted",
    )


def _db_uuid(deployment: Deployment, user: uuid.UUID) -> str:
    # SQLAlchemy's Uuid type stores 32 hex digits on SQLite and a native uuid on PostgreSQL.
    return user.hex if deployment.backend == "sqlite" else str(user)
