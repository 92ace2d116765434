"""Every field of every HTTP contract, over a real server with a trained model, on each backend."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Population
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

REASONS = {"collaborative_filtering", "content_similarity", "recency", "trending", "new_post"}


def assert_recommendations(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert set(item) == {"post_id", "score", "reason"}
        uuid.UUID(item["post_id"])
        assert 0.0 <= item["score"] <= 1.0
        assert item["reason"] in REASONS
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    assert len({item["post_id"] for item in items}) == len(items)


def test_generate_answers_the_full_contract_for_a_user_with_history(
    client: httpx.Client, population: Population
) -> None:
    user = population.take()
    response = client.post("/recommendations/generate", json={"user_id": str(user), "limit": 20})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"user_id", "recommendations", "metadata"}
    assert body["user_id"] == str(user)
    assert 0 < len(body["recommendations"]) <= 20
    assert_recommendations(body["recommendations"])
    metadata = body["metadata"]
    assert set(metadata) == {
        "total",
        "model_version",
        "generated_at",
        "source",
        "recommendation_id",
        "next_cursor",
        "cursor_expired",
    }
    assert metadata["cursor_expired"] is False
    assert metadata["total"] >= len(body["recommendations"])
    assert metadata["model_version"]
    assert metadata["source"] == "model"
    generated = datetime.fromisoformat(metadata["generated_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - generated) < timedelta(minutes=1)


def test_generate_uses_the_documented_defaults(client: httpx.Client, population: Population) -> None:
    body = client.post("/recommendations/generate", json={"user_id": str(population.take())}).json()

    assert len(body["recommendations"]) == min(50, body["metadata"]["total"])


def test_get_recommendations_answers_the_older_envelope(client: httpx.Client, population: Population) -> None:
    user = population.take()
    response = client.get(f"/recommendations/{user}", params={"limit": 7, "offset": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"recommendations", "model_version"}
    assert len(body["recommendations"]) == 7
    assert_recommendations(body["recommendations"])
    assert body["model_version"]


def test_get_and_post_rank_a_user_the_same_way(client: httpx.Client, population: Population) -> None:
    user = population.take()
    posted = client.post("/recommendations/generate", json={"user_id": str(user), "limit": 10}).json()
    got = client.get(f"/recommendations/{user}", params={"limit": 10}).json()

    assert [r["post_id"] for r in got["recommendations"]] == [r["post_id"] for r in posted["recommendations"]]
    assert got["model_version"] == posted["metadata"]["model_version"]


def test_tracking_one_interaction_answers_202_with_counts(
    client: httpx.Client, population: Population
) -> None:
    user, post = population.take(), population.post_ids[0]
    response = client.post(
        "/interactions/track",
        json={"user_id": str(user), "post_id": str(post), "interaction_type": "like", "metadata": {"k": 1}},
    )

    assert response.status_code == 202
    assert response.json() == {
        "status": "tracked",
        "accepted": 1,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": [],
        "conflicting": [],
    }


def test_tracking_a_batch_answers_202_with_counts(client: httpx.Client, population: Population) -> None:
    user = population.take()
    items = [
        {"user_id": str(user), "post_id": str(post), "interaction_type": kind}
        for post, kind in zip(population.post_ids[:4], ("view", "click", "like", "share"), strict=True)
    ]
    response = client.post("/interactions/track", json={"interactions": items})

    assert response.status_code == 202
    assert response.json() == {
        "status": "tracked",
        "accepted": 4,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": [],
        "conflicting": [],
    }


def test_health_reports_a_healthy_service_with_its_model(client: httpx.Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert {"status", "timestamp", "model_version", "model_loaded", "database"} <= set(body)
    assert body["status"] == "healthy"
    assert body["model_loaded"] is True
    assert body["model_version"]
    assert body["database"] == {"ok": True, "error": None}
    assert body["model_error"] is None
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


def test_liveness_and_readiness_answer_200(client: httpx.Client) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_metrics_expose_recommendation_requests_and_latency(
    client: httpx.Client, population: Population
) -> None:
    client.post("/recommendations/generate", json={"user_id": str(population.take())})
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    # The parser drops the _total suffix from counter family names.
    assert "ml_recommendation_requests" in families
    assert "ml_recommendation_latency_seconds" in families
    assert "ml_recommendation_requests_total" in response.text
    requests = sum(
        s.value for s in families["ml_recommendation_requests"].samples if s.name.endswith("_total")
    )
    assert requests >= 1


def test_a_request_id_is_echoed_or_assigned(client: httpx.Client) -> None:
    echoed = client.get("/health/live", headers={"X-Request-ID": "feed-abc-123"})
    assigned = client.get("/health/live")

    assert echoed.headers["x-request-id"] == "feed-abc-123"
    assert len(assigned.headers["x-request-id"]) >= 16


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommendations/generate", "/interactions/track", "/health"} <= set(paths)


def test_a_body_over_the_limit_is_refused_with_413(server: ServerProcess) -> None:
    padding = "x" * (1_048_576 + 10)
    with server.client() as http:
        response = http.post(
            "/interactions/track",
            json={
                "user_id": str(uuid.uuid4()),
                "post_id": str(uuid.uuid4()),
                "interaction_type": "view",
                "metadata": {"pad": padding},
            },
        )

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_a_streamed_body_over_the_limit_is_refused_with_413(server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"interactions": ["'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"]}'

    with server.client() as http:
        response = http.post(
            "/interactions/track", content=chunks(), headers={"content-type": "application/json"}
        )

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_the_docs_pages_load_everything_from_the_service(client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assets += re.findall(r"""(?:url|spec-url):\s*['"]([^'"]+)['"]""", html.text)
        assert assets, html.text
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            assert client.get(asset).status_code == 200, asset
