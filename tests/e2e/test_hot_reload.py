"""A newly promoted model is served without a restart; a broken one, or one trained on other data,
never replaces a working one, and /health says what is wrong until it is fixed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.infrastructure.ml.registry import ModelRegistry, ModelStatus
from tests.e2e.conftest import Deployment
from tests.e2e.server import ServerProcess, poll_until, run_module

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reloading_server(sqlite_deployment: Deployment, models_dir: Path) -> Iterator[ServerProcess]:
    process = sqlite_deployment.start_server("hot-reload", ML_MODEL__MODELS_DIR=str(models_dir))
    yield process
    process.stop()


def health(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_promoted_model_is_served_and_a_broken_one_is_refused(
    reloading_server: ServerProcess, sqlite_deployment: Deployment, models_dir: Path
) -> None:
    registry = ModelRegistry(models_dir)
    first = registry.active_version()
    user = sqlite_deployment.population.take()
    with reloading_server.client() as http:
        assert health(http)["model_version"] == first

        second = train_and_promote(models_dir, "--database-url", sqlite_deployment.database_url)
        poll_until(
            lambda: True if health(http)["model_version"] == second else None,
            timeout=10,
            message=f"model {second} served",
        )
        served = http.post("/recommendations/generate", json={"user_id": str(user), "limit": 5}).json()
        assert served["metadata"]["model_version"] == second
        assert served["recommendations"]

        # Newer and active, but trained on the dataset file rather than this database.
        foreign = train_and_promote(models_dir, "--input", str(sqlite_deployment.dataset_path))
        assert registry.active_version() == foreign
        promote_tampered_copy(registry, second)
        report = poll_until(
            lambda: body if (body := health(http))["model_error"] else None,
            timeout=10,
            message="the tampered model reported",
        )
        # Reported after the foreign promotion, so the server has polled past it.
        assert report["model_version"] == second
        # Serving, but not the model the registry names: degraded, still 200.
        assert report["status"] == "degraded"
        assert "tampered" in report["model_error"]
        assert foreign not in report["model_error"]
        still = http.post("/recommendations/generate", json={"user_id": str(user), "limit": 5})
        assert still.status_code == 200
        assert still.json()["metadata"]["model_version"] == second

        good = (models_dir / "registry.json").read_text()
        (models_dir / "registry.json").write_text("{ not json")
        report = poll_until(
            lambda: body if "cannot read" in ((body := health(http))["model_error"] or "") else None,
            timeout=10,
            message="the corrupt registry reported",
        )
        assert report["model_version"] == second
        assert http.post("/recommendations/generate", json={"user_id": str(user)}).status_code == 200

        (models_dir / "registry.json").write_text(good)
        report = poll_until(
            lambda: body if "cannot read" not in ((body := health(http))["model_error"] or "") else None,
            timeout=10,
            message="the repaired registry no longer reported",
        )
        # What is still wrong is still said: the tampered version stays refused.
        assert "tampered" in report["model_error"]
        assert report["model_version"] == second


def train_and_promote(models_dir: Path, *source: str) -> str:
    """Trains a candidate from `source` (training's own arguments) and promotes it with the
    registry command line."""
    before = {entry.version for entry in ModelRegistry(models_dir).entries()}
    run_module(
        "training.train",
        *(*source, "--models-dir", str(models_dir)),
        *("--no-mlflow", "--no-tune", "--no-promote", "--precompute-users", "0", "--max-eval-users", "50"),
    )
    (version,) = {entry.version for entry in ModelRegistry(models_dir).entries()} - before
    run_module("training.export_model", "--promote", version, "--models-dir", str(models_dir))
    return version


def promote_tampered_copy(registry: ModelRegistry, version: str) -> None:
    """Registers a copy of `version`'s artifact with one byte changed under the original's sha256."""
    entry = registry.get(version)
    assert entry is not None
    artifact = bytearray(registry.artifact_path(entry).read_bytes())
    artifact[len(artifact) // 2] ^= 0xFF
    (registry.models_dir / "model_tampered.npz").write_bytes(bytes(artifact))
    tampered = replace(
        entry,
        version="tampered",
        filename="model_tampered.npz",
        created_at=datetime.now(UTC),
        status=ModelStatus.CANDIDATE,
        promoted_at=None,
    )
    registry.add(tampered)
    registry.promote("tampered")
