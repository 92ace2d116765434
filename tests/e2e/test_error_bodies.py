"""Every error body carries a code, a message for the caller and the request id; what the database
said (its driver's text, its address) goes to the log under that id, never to the caller."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess, free_port

pytestmark = pytest.mark.e2e

# What a driver's error says: none of it may reach a caller.
DRIVER_WORDS = ("Errno", "refused", "Connection", "UNIQUE", "constraint", "users.username", "postgresql")


def quiet(work: Path) -> dict[str, str]:
    return {
        "ML_MODEL__MODELS_DIR": str(work / "models"),
        "ML_MODEL__RELOAD_INTERVAL_SECONDS": "0",
        "ML_CLEANUP_INTERVAL_SECONDS": "0",
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("error-bodies")


class LiveServer(ServerProcess):
    """Started once it answers at all: without a database it never becomes ready."""

    def _ready(self) -> bool | None:
        return True if httpx.get(f"{self.base_url}/health/live", timeout=2).status_code == 200 else None


@pytest.fixture(scope="module")
def no_database(work: Path) -> Iterator[tuple[ServerProcess, int]]:
    """A service whose PostgreSQL server does not listen: every database call fails in the driver."""
    port = free_port()
    env = {**quiet(work), "DATABASE_URL": f"postgresql://feed:secret@localhost:{port}/feed"}
    process = LiveServer(env, work / "no-database.log").start()
    yield process, port
    process.stop()


@pytest.fixture(scope="module")
def sqlite_server(work: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        {**quiet(work), "DATABASE_URL": f"sqlite:///{work / 'e.db'}"}, work / "sqlite.log"
    )
    yield process.start()
    process.stop()


def log_entries(server: ServerProcess, rid: str) -> list[dict[str, Any]]:
    entries = []
    for line in server.log_path.read_text().splitlines():
        if rid in line and line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def assert_error_body(response: httpx.Response, error: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail", "request_id"}, body
    assert body["error"] == error
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_no_driver_text(text: str, *more: str) -> None:
    found = [word for word in (*DRIVER_WORDS, *more) if word.lower() in text.lower()]
    assert found == [], text


ONE_VIEW = {"user_id": str(uuid.uuid4()), "post_id": str(uuid.uuid4()), "interaction_type": "view"}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/recommendations/generate", {"user_id": str(uuid.uuid4())}), ("/interactions/track", ONE_VIEW)],
    ids=["feed", "track"],
)
def test_a_503_names_neither_the_driver_nor_the_database_address_and_the_log_has_both(
    no_database: tuple[ServerProcess, int], path: str, body: dict[str, str]
) -> None:
    server, port = no_database
    with server.client() as http:
        response = http.post(path, json=body, headers={"X-Request-ID": f"caller-{uuid.uuid4()}"})

    assert response.status_code == 503
    found = assert_error_body(response, "storage_unavailable")
    assert found["request_id"].startswith("caller-")
    assert_no_driver_text(response.text, "localhost", "127.0.0.1", str(port), "secret")
    logged = [e for e in log_entries(server, found["request_id"]) if e["level"] == "WARNING"]
    assert any("database unavailable" in e["message"] for e in logged), logged


def test_health_says_what_is_down_without_the_drivers_text(no_database: tuple[ServerProcess, int]) -> None:
    server, port = no_database
    with server.client() as http:
        response = http.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == {"ok": False, "error": "database unavailable"}
    assert_no_driver_text(response.text, "localhost", "127.0.0.1", str(port), "secret")


def test_a_conflict_the_database_reports_keeps_its_words_in_the_log(sqlite_server: ServerProcess) -> None:
    name = f"user-{uuid.uuid4().hex[:12]}"
    with sqlite_server.client() as http:
        assert http.put(f"/users/{uuid.uuid4()}", json={"username": name}).status_code == 201
        response = http.put(f"/users/{uuid.uuid4()}", json={"username": name})

    assert response.status_code == 409
    body = assert_error_body(response, "conflict")
    assert_no_driver_text(response.text)
    logged = log_entries(sqlite_server, body["request_id"])
    assert any("UNIQUE constraint failed" in e["message"] for e in logged), logged


REQUESTS: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    "validation": (
        "POST",
        "/recommendations/generate",
        {"json": {"user_id": "nope"}},
        422,
        "validation_error",
    ),
    "unknown route": ("GET", "/no/such/route", {}, 404, "not_found"),
    "wrong method": ("PUT", "/interactions/track", {"json": ONE_VIEW}, 405, "method_not_allowed"),
    "not json": (
        "POST",
        "/interactions/track",
        {"content": b"{}", "headers": {"content-type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    "too large": (
        "POST",
        "/interactions/track",
        {"json": {"interactions": ["x" * 2_000_000]}},
        413,
        "payload_too_large",
    ),
    "unknown post": ("POST", "/interactions/track", {"json": ONE_VIEW}, 404, "not_found"),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_every_error_carries_its_code_a_message_and_the_request_id(
    sqlite_server: ServerProcess, name: str
) -> None:
    method, path, options, status, error = REQUESTS[name]
    with sqlite_server.client() as http:
        response = http.request(method, path, **options)

    assert response.status_code == status, response.text
    assert_error_body(response, error)
