"""With several worker processes, one scrape of /metrics counts the requests of all of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Deployment
from tests.e2e.server import ServerProcess, poll_until

pytestmark = pytest.mark.e2e

BATCH = 16


@pytest.fixture(scope="module")
def multiproc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus-multiproc")


@pytest.fixture(scope="module")
def two_workers(sqlite_deployment: Deployment, multiproc_dir: Path) -> Iterator[ServerProcess]:
    process = sqlite_deployment.start_server(
        "two-workers", workers=2, PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir)
    )
    yield process
    process.stop()


def requests_counted_per_process(multiproc_dir: Path) -> dict[str, float]:
    """ml_recommendation_requests_total as each worker wrote it to its own file."""
    counted: dict[str, float] = {}
    for path in multiproc_dir.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            if json.loads(key)[0] == "ml_recommendation_requests":
                counted[path.stem] = counted.get(path.stem, 0.0) + value
    return counted


def generate_on_a_new_connection(base_url: str) -> int:
    # A new connection per request lets either worker accept it.
    with httpx.Client(base_url=base_url, timeout=30) as http:
        response = http.post("/recommendations/generate", json={"user_id": str(uuid.uuid4()), "limit": 5})
        return response.status_code


def test_one_scrape_counts_every_request_of_every_worker(
    two_workers: ServerProcess, multiproc_dir: Path
) -> None:
    sent = 0

    def send_batch() -> bool | None:
        nonlocal sent
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(generate_on_a_new_connection, [two_workers.base_url] * BATCH))
        assert statuses == [200] * BATCH
        sent += BATCH
        busy = [count for count in requests_counted_per_process(multiproc_dir).values() if count > 0]
        return True if len(busy) >= 2 else None

    poll_until(send_batch, timeout=60, interval=0, message="requests answered by both workers")
    with two_workers.client() as http:
        scrape = http.get("/metrics").text

    families = {family.name: family for family in text_string_to_metric_families(scrape)}
    requests = families["ml_recommendation_requests"].samples
    latency = families["ml_recommendation_latency_seconds"].samples
    assert sum(s.value for s in requests if s.name == "ml_recommendation_requests_total") == sent
    assert sum(s.value for s in latency if s.name == "ml_recommendation_latency_seconds_count") == sent
    assert "ml_model_loaded" in families


def test_stopped_workers_leave_no_live_gauges_behind(two_workers: ServerProcess, multiproc_dir: Path) -> None:
    assert list(multiproc_dir.glob("gauge_live*.db"))

    two_workers.stop()

    assert not list(multiproc_dir.glob("gauge_live*.db"))
    assert list(multiproc_dir.glob("counter_*.db")), "counters outlive their process"
