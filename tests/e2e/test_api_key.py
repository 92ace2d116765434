"""With ML_SERVICE_API_KEY set, every path needs the key (the API docs too, which a browser sends as
HTTP Basic credentials); health and metrics stay open, and ML_DOCS_PUBLIC opens the docs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

KEY = "e2e-secret-key"


@pytest.fixture(scope="module")
def keyed_server(sqlite_deployment: Deployment) -> Iterator[ServerProcess]:
    process = sqlite_deployment.start_server("api-key", ML_SERVICE_API_KEY=KEY)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def protected_calls(sqlite_deployment: Deployment) -> dict[str, tuple[str, str, dict[str, object] | None]]:
    user = sqlite_deployment.population.take()
    post = sqlite_deployment.population.post_ids[5]
    return {
        "generate": ("POST", "/recommendations/generate", {"user_id": str(user)}),
        "get": ("GET", f"/recommendations/{user}", None),
        "track": (
            "POST",
            "/interactions/track",
            {"user_id": str(user), "post_id": str(post), "interaction_type": "view"},
        ),
    }


@pytest.mark.parametrize("name", ["generate", "get", "track"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}],
    ids=["none", "wrong", "wrong-bearer"],
)
def test_a_missing_or_wrong_key_is_refused_with_401(
    keyed_server: ServerProcess,
    protected_calls: dict[str, tuple[str, str, dict[str, object] | None]],
    name: str,
    headers: dict[str, str],
) -> None:
    method, path, body = protected_calls[name]
    with keyed_server.client() as http:
        response = http.request(method, path, json=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(("name", "status"), [("generate", 200), ("get", 200), ("track", 202)])
def test_the_right_key_is_let_through(
    keyed_server: ServerProcess,
    protected_calls: dict[str, tuple[str, str, dict[str, object] | None]],
    name: str,
    status: int,
) -> None:
    method, path, body = protected_calls[name]
    with keyed_server.client() as http:
        response = http.request(method, path, json=body, headers={"X-API-Key": KEY})

    assert response.status_code == status, response.text


def test_a_bearer_token_is_accepted_too(keyed_server: ServerProcess) -> None:
    with keyed_server.client() as http:
        response = http.post(
            "/recommendations/generate",
            json={"user_id": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {KEY}"},
        )

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/metrics"])
def test_health_and_metrics_need_no_key(keyed_server: ServerProcess, path: str) -> None:
    with keyed_server.client() as http:
        assert http.get(path).status_code == 200


def test_the_openapi_document_says_how_to_send_the_key(keyed_server: ServerProcess) -> None:
    with keyed_server.client() as http:
        schema = http.get("/openapi.json", headers={"X-API-Key": KEY}).json()

    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert schema["paths"]["/recommendations/generate"]["post"]["security"] == [
        {"ApiKey": []},
        {"Bearer": []},
    ]
    assert "security" not in schema["paths"]["/health"]["get"]


DOCS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/static-offline-docs/swagger-ui.css"]


@pytest.mark.parametrize("path", DOCS)
def test_the_docs_need_the_key_and_a_browser_is_asked_for_it(keyed_server: ServerProcess, path: str) -> None:
    with keyed_server.client() as http:
        response = http.get(path)
        wrong = http.get(path, auth=("docs", "wrong"))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert wrong.status_code == 401


@pytest.mark.parametrize("path", DOCS)
@pytest.mark.parametrize(
    "credentials",
    [{"headers": {"X-API-Key": KEY}}, {"auth": ("any-name", KEY)}],
    ids=["header", "browser-basic"],
)
def test_the_docs_open_with_the_key_as_a_header_or_the_browsers_password(
    keyed_server: ServerProcess, path: str, credentials: dict[str, Any]
) -> None:
    with keyed_server.client() as http:
        assert http.get(path, **credentials).status_code == 200


def test_the_api_takes_the_key_as_a_header_not_as_basic_credentials(keyed_server: ServerProcess) -> None:
    with keyed_server.client() as http:
        response = http.post(
            "/recommendations/generate", json={"user_id": str(uuid.uuid4())}, auth=("any-name", KEY)
        )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_path_no_route_has_needs_the_key_too(keyed_server: ServerProcess) -> None:
    with keyed_server.client() as http:
        assert http.get("/admin").status_code == 401
        assert http.get("/admin", headers={"X-API-Key": KEY}).status_code == 404


@pytest.mark.parametrize("path", ["/health/", "/docs/", "/recommendations/generate/", "/metrics/"])
def test_no_answer_sends_the_client_to_the_host_header(keyed_server: ServerProcess, path: str) -> None:
    with keyed_server.client() as http:
        for headers in ({"host": "evil.example"}, {"host": "evil.example", "X-API-Key": KEY}):
            response = http.get(path, headers=headers)
            assert response.status_code in (401, 404), response.text
            assert "location" not in response.headers
            assert "evil.example" not in response.text


@pytest.fixture(scope="module")
def public_docs_server(sqlite_deployment: Deployment) -> Iterator[ServerProcess]:
    process = sqlite_deployment.start_server("public-docs", ML_SERVICE_API_KEY=KEY, ML_DOCS_PUBLIC="true")
    yield process
    process.stop()


def test_public_docs_open_the_docs_and_nothing_else(public_docs_server: ServerProcess) -> None:
    with public_docs_server.client() as http:
        assert [http.get(path).status_code for path in DOCS] == [200] * len(DOCS)
        assert http.post("/recommendations/generate", json={"user_id": str(uuid.uuid4())}).status_code == 401
        assert http.get("/admin").status_code == 401
