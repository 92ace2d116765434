"""With ML_SERVICE_API_KEY set, recommendations and tracking need the key; health and metrics stay open."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
        schema = http.get("/openapi.json").json()

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
