"""An EASE model, trained by the training job and served by a real server, keeps the feed's
promises: seen and own posts stay out, scores are in [0, 1] and sorted, every post has a reason,
a new user gets trending posts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, Population
from tests.e2e.server import ServerProcess, run_module

pytestmark = pytest.mark.e2e
REASONS = {"collaborative_filtering", "content_similarity", "recency", "trending", "new_post"}


@pytest.fixture(scope="module")
def ease_server(deployment: Deployment) -> Iterator[ServerProcess]:
    models_dir = deployment.work_dir / "models-ease"
    run_module(
        "training.train",
        *("--database-url", deployment.database_url, "--models-dir", str(models_dir)),
        *("--engine", "ease", "--no-tune", "--no-mlflow", "--precompute-users", "0"),
    )
    process = ServerProcess(
        deployment.server_env(ML_MODEL__MODELS_DIR=str(models_dir)), deployment.work_dir / "server-ease.log"
    ).start()
    yield process
    process.stop()


def generate(client: httpx.Client, user: uuid.UUID, **fields: Any) -> dict[str, Any]:
    response = client.post("/recommendations/generate", json={"user_id": str(user), "limit": 50, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_served_model_is_the_ease_model_the_job_trained(
    ease_server: ServerProcess, deployment: Deployment
) -> None:
    registry = json.loads((deployment.work_dir / "models-ease" / "registry.json").read_text())
    (entry,) = registry["models"]
    assert entry["config"]["engine"] == "ease"
    with ease_server.client() as client:
        health = client.get("/health").json()
    assert health["model_version"] == entry["version"]
    assert health["model_loaded"] is True


def test_an_ease_feed_keeps_seen_and_own_posts_out_and_explains_every_post(
    ease_server: ServerProcess, population: Population
) -> None:
    user = population.take(author=True)
    with ease_server.client() as client:
        body = generate(client, user)
    items = body["recommendations"]
    posts = {item["post_id"] for item in items}
    scores = [item["score"] for item in items]
    assert items
    assert body["metadata"]["source"] == "model"
    assert posts.isdisjoint(population.seen[user])
    assert posts.isdisjoint(str(p) for p in population.authored[user])
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert {item["reason"] for item in items} <= REASONS
    assert "collaborative_filtering" in {item["reason"] for item in items}


def test_a_post_tracked_now_leaves_the_next_ease_feed(
    ease_server: ServerProcess, population: Population
) -> None:
    user = population.take()
    with ease_server.client() as client:
        first = generate(client, user)["recommendations"][0]["post_id"]
        tracked = client.post(
            "/interactions/track", json={"user_id": str(user), "post_id": first, "interaction_type": "like"}
        )
        again = generate(client, user)
    assert tracked.json()["accepted"] == 1
    assert first not in {item["post_id"] for item in again["recommendations"]}


def test_a_new_user_gets_trending_posts_from_an_ease_model(ease_server: ServerProcess) -> None:
    with ease_server.client() as client:
        body = generate(client, uuid.uuid4(), limit=10)
    assert body["metadata"]["source"] == "cold_start"
    assert {item["reason"] for item in body["recommendations"]} == {"trending"}
