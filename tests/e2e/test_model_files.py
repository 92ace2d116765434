"""Model files a real server is handed: a code-running pickle registered with its true checksum runs
nothing, a registry entry pointing outside the models folder is refused, and a served artifact that
changes or vanishes on disk turns /health degraded while the loaded model keeps serving."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.infrastructure.ml.artifact import sha256_hex
from app.infrastructure.ml.registry import ModelRegistry, RegistryEntry
from tests.e2e.conftest import Deployment
from tests.e2e.server import ServerProcess, poll_until

pytestmark = pytest.mark.e2e


class WritesMarker:
    """Unpickled, it creates `marker`: what a code-running artifact would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "code ran"))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-files")


@pytest.fixture(scope="module")
def server(sqlite_deployment: Deployment, models_dir: Path) -> Iterator[ServerProcess]:
    process = sqlite_deployment.start_server("model-files", ML_MODEL__MODELS_DIR=str(models_dir))
    yield process
    process.stop()


def health(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def until_health(http: httpx.Client, check: Any, message: str) -> dict[str, Any]:
    return poll_until(lambda: body if check(body := health(http)) else None, timeout=15, message=message)


def served_entry(registry: ModelRegistry) -> RegistryEntry:
    entry = registry.active()
    assert entry is not None
    return entry


def plant(registry: ModelRegistry, version: str, filename: str, data: bytes) -> None:
    """`data` as `filename`, registered with its true sha256 and the served model's data source,
    and promoted: as someone who can write the models folder would do."""
    served = served_entry(registry)
    (registry.models_dir / filename).write_bytes(data)
    entry = RegistryEntry(
        version=version,
        filename=filename,
        created_at=datetime.now(UTC),
        sha256=sha256_hex(data),
        data_source=served.data_source,
    )
    # Written as a hand-edited registry would be: add() refuses a filename that is not plain.
    document = json.loads(registry.path.read_text())
    document["models"].append(entry.to_json())
    registry.path.write_text(json.dumps(document))
    registry.promote(version)


def code_running_pickle(marker: Path) -> bytes:
    return pickle.dumps({"format_version": 1, "model": WritesMarker(marker)}, protocol=5)


def generate(http: httpx.Client, user: str) -> dict[str, Any]:
    response = http.post("/recommendations/generate", json={"user_id": user, "limit": 5})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("filename", ["model_planted-pkl.pkl", "model_planted-npz.npz"])
def test_a_promoted_code_running_pickle_runs_nothing_and_the_served_model_stays(
    server: ServerProcess, sqlite_deployment: Deployment, models_dir: Path, work: Path, filename: str
) -> None:
    registry = ModelRegistry(models_dir)
    first = served_entry(registry).version
    version = filename.removeprefix("model_").rsplit(".", 1)[0]
    marker = work / f"code-ran-{version}"
    user = str(sqlite_deployment.population.take())
    with server.client() as http:
        assert health(http)["model_version"] == first
        plant(registry, version, filename, code_running_pickle(marker))
        report = until_health(http, lambda b: version in (b["model_error"] or ""), f"{version} refused")
        assert not marker.exists()
        assert "`ml-service train`" in report["model_error"]
        assert (report["status"], report["model_version"]) == ("degraded", first)
        assert generate(http, user)["metadata"]["model_version"] == first

        registry.promote(first)
        until_health(http, lambda b: b["status"] == "healthy", "healthy again")
    assert not marker.exists()


def test_a_registry_entry_pointing_outside_the_models_folder_is_refused(
    server: ServerProcess, models_dir: Path
) -> None:
    registry = ModelRegistry(models_dir)
    served = served_entry(registry)
    # A valid artifact outside the folder, under its true sha256: still never read.
    outside = models_dir.parent / "outside"  # what "../outside" names from the models folder
    outside.mkdir(exist_ok=True)
    shutil.copy(registry.artifact_path(served), outside / "model.npz")
    with server.client() as http:
        plant(registry, "escaped", "../outside/model.npz", (outside / "model.npz").read_bytes())
        report = until_health(http, lambda b: "escaped" in (b["model_error"] or ""), "escaped refused")
        assert "outside the models folder" in report["model_error"]
        assert report["model_version"] == served.version
        registry.promote(served.version)
        until_health(http, lambda b: b["status"] == "healthy", "healthy again")


def test_a_served_artifact_that_changes_or_vanishes_turns_health_degraded_until_restored(
    server: ServerProcess, sqlite_deployment: Deployment, models_dir: Path
) -> None:
    registry = ModelRegistry(models_dir)
    served = served_entry(registry)
    path = registry.artifact_path(served)
    good = path.read_bytes()
    user = str(sqlite_deployment.population.take())
    with server.client() as http:
        until_health(http, lambda b: b["status"] == "healthy", "healthy at first")
        changed = bytearray(good)
        changed[len(changed) // 2] ^= 0xFF
        path.write_bytes(bytes(changed))
        report = until_health(http, lambda b: b["status"] == "degraded", "the changed artifact reported")
        assert "changed on disk" in report["model_error"]
        assert report["model_version"] == served.version
        assert generate(http, user)["metadata"]["model_version"] == served.version

        path.write_bytes(good)
        until_health(http, lambda b: b["status"] == "healthy", "the restored artifact accepted")

        path.unlink()
        report = until_health(http, lambda b: b["status"] == "degraded", "the vanished artifact reported")
        assert "missing" in report["model_error"]
        assert generate(http, user)["metadata"]["model_version"] == served.version
        path.write_bytes(good)
        until_health(http, lambda b: b["status"] == "healthy", "the returned artifact accepted")


def test_a_server_whose_only_model_is_an_old_pickle_starts_serves_cold_start_and_says_to_retrain(
    sqlite_deployment: Deployment, models_dir: Path, work: Path
) -> None:
    old_models = work / "old-models"
    old_models.mkdir()
    shutil.copy(models_dir / "registry.json", old_models / "registry.json")
    registry = ModelRegistry(old_models)
    marker = work / "code-ran-at-start"
    plant(registry, "old", "model_old.pkl", code_running_pickle(marker))
    process = sqlite_deployment.start_server("old-pickle", ML_MODEL__MODELS_DIR=str(old_models))
    try:
        assert not marker.exists()
        with process.client() as http:
            report = health(http)
            assert (report["status"], report["model_loaded"]) == ("degraded", False)
            assert "pickle" in report["model_error"]
            assert "`ml-service train`" in report["model_error"]
            body = generate(http, str(sqlite_deployment.population.take()))
            assert body["metadata"]["model_version"] is None
            assert body["recommendations"]
    finally:
        process.stop()
    assert not marker.exists()
