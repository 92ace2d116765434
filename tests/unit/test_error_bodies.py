"""Errors raised inside a request reach the caller as a code, a message meant for them and the
request id: an error translated from a driver's, and any unexpected one, say no more than that."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.infrastructure.config import ModelSettings, Settings
from app.main import create_app
from app.shared.exceptions import InvalidInput, StorageUnavailable

SECRET = "postgresql://feed:hunter2@10.1.2.3:5432/feed"


def refused_by_the_driver() -> None:
    try:
        raise OSError(f"value too long for type character varying(64) at {SECRET}")
    except OSError as error:
        raise InvalidInput(f"the database refused the data: {error}") from error


def refused_by_us() -> None:
    raise InvalidInput("created_at: must not be before 1970-01-01")


def database_down() -> None:
    raise StorageUnavailable(f"database unavailable: ConnectionRefusedError: {SECRET}")


def bug() -> None:
    raise RuntimeError(f"a bug that prints {SECRET}")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        model=ModelSettings(models_dir=tmp_path / "models", reload_interval_seconds=0),
        cleanup_interval_seconds=0,
        _env_file=None,
    )
    app: FastAPI = create_app(settings)
    for endpoint in (refused_by_the_driver, refused_by_us, database_down, bug):
        app.add_api_route(f"/{endpoint.__name__}", endpoint)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/refused_by_the_driver", 422, "invalid_input"),
        ("/database_down", 503, "storage_unavailable"),
        ("/bug", 500, "internal_error"),
    ],
)
def test_an_error_from_below_is_answered_without_its_text_which_is_logged_under_the_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str, status: int, error: str
) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.get(path, headers={"X-Request-ID": "trace-me"})

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["request_id"] == response.headers["x-request-id"] == "trace-me"
    assert "hunter2" not in response.text
    assert "10.1.2.3" not in response.text
    assert SECRET in caplog.text  # the e2e tests check the JSON log line carries the request id


def test_a_message_we_wrote_for_the_caller_is_shown(client: TestClient) -> None:
    response = client.get("/refused_by_us")

    assert response.status_code == 422
    assert response.json()["detail"] == "created_at: must not be before 1970-01-01"
    assert response.json()["request_id"] == response.headers["x-request-id"]
