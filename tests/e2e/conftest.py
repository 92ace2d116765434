"""End-to-end fixtures: a seeded database and a trained model per backend, and real servers over them.

Per backend (SQLite file, PostgreSQL database) the session builds, once: generated data → seeder →
training (export, promote, precompute) → one server. Tests that need other settings start their own
server over the same database; every process started here is stopped by its pid at teardown.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.migrate import upgrade_to_head
from tests.conftest import create_database
from tests.e2e.proxy import TcpProxy
from tests.e2e.server import ServerProcess, run_module

USERS, POSTS, INTERACTIONS = 200, 400, 6000
PRECOMPUTED_USERS = 50
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@dataclass
class Population:
    """Who is who in the seeded data. `take` hands every test users no other test has touched."""

    active: list[uuid.UUID]
    authored: dict[uuid.UUID, set[uuid.UUID]]
    precomputed: set[uuid.UUID]
    post_ids: list[uuid.UUID]
    seen: dict[uuid.UUID, set[str]]
    _taken: set[uuid.UUID] = field(default_factory=set)

    def shared_post(self, post_id: uuid.UUID | str) -> bool:
        """Whether tests track the post by its index in `post_ids` (the first 16): a test that
        deletes posts leaves these alone, whatever order the tests run in."""
        return uuid.UUID(str(post_id)) in set(self.post_ids[:16])

    def take(self, *, precomputed: bool = False, author: bool = False) -> uuid.UUID:
        """An untouched user; with `author`, one who wrote posts, none of them shared."""
        for user in self.active:
            if user in self._taken or (user in self.precomputed) != precomputed:
                continue
            authored = self.authored.get(user, set())
            if author and (not authored or any(self.shared_post(p) for p in authored)):
                continue
            self._taken.add(user)
            return user
        raise LookupError(f"no unused active user with precomputed={precomputed}, author={author}")


@dataclass
class Deployment:
    """A seeded, trained backend: what a server needs to start over it."""

    backend: str
    database_url: str
    models_dir: Path
    dataset_path: Path
    population: Population
    work_dir: Path

    def server_env(self, **overrides: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "ML_MODEL__MODELS_DIR": str(self.models_dir),
            "ML_MODEL__RELOAD_INTERVAL_SECONDS": "0.5",
            **overrides,
        }

    def start_server(self, name: str, *, workers: int = 1, **env: str) -> ServerProcess:
        log = self.work_dir / f"server-{name}.log"
        return ServerProcess(self.server_env(**env), log, workers=workers).start()

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(normalise_url(self.database_url))
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dataset") / "dataset.json"
    run_module(
        "data.generate_fake_data",
        *("--users", str(USERS), "--posts", str(POSTS), "--interactions", str(INTERACTIONS)),
        *("--days", "30", "--seed", "11", "--output", str(path)),
    )
    return path


def _population(dataset_path: Path, deployment_query: Any) -> Population:
    data = json.loads(dataset_path.read_text())
    active = sorted({uuid.UUID(i["user_id"]) for i in data["interactions"]}, key=str)
    authored: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for post in data["posts"]:
        authored[uuid.UUID(post["author_id"])].add(uuid.UUID(post["id"]))
    rows = deployment_query("SELECT DISTINCT user_id FROM user_recommendation")
    precomputed = {row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(str(row[0])) for row in rows}
    post_ids = [uuid.UUID(p["id"]) for p in data["posts"]]
    seen: dict[uuid.UUID, set[str]] = defaultdict(set)
    for interaction in data["interactions"]:
        seen[uuid.UUID(interaction["user_id"])].add(interaction["post_id"])
    return Population(active, dict(authored), precomputed, post_ids, dict(seen))


@pytest.fixture(scope="session")
def sqlite_deployment(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    work_dir = tmp_path_factory.mktemp("e2e-sqlite")
    return _deploy("sqlite", f"sqlite:///{work_dir / 'service.db'}", dataset_path, work_dir)


@pytest.fixture(scope="session")
def postgres_deployment(
    postgres_admin_url: str, dataset_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A database of its own on the test server, dropped at the end of the session."""
    work_dir = tmp_path_factory.mktemp("e2e-postgres")
    with create_database(postgres_admin_url, f"ml_e2e_{uuid.uuid4().hex[:10]}") as url:
        yield _deploy("postgres", url, dataset_path, work_dir)


@pytest.fixture(scope="session", params=BACKENDS)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """Each backend in turn, seeded and trained once for the whole session."""
    chosen: Deployment = request.getfixturevalue(f"{request.param}_deployment")
    return chosen


def _deploy(backend: str, url: str, dataset_path: Path, work_dir: Path) -> Deployment:
    upgrade_to_head(url)
    run_module("data.seed_database", "--input", str(dataset_path), "--database-url", url)
    models_dir = work_dir / "models"
    run_module(
        "training.train",
        *("--database-url", url, "--models-dir", str(models_dir), "--no-mlflow", "--no-tune"),
        *("--precompute-users", str(PRECOMPUTED_USERS)),
    )
    deployment = Deployment(
        backend, url, models_dir, dataset_path, Population([], {}, set(), [], {}), work_dir
    )
    deployment.population = _population(dataset_path, deployment.query)
    return deployment


@pytest.fixture(scope="session")
def server(deployment: Deployment) -> Iterator[ServerProcess]:
    """The shared server of a backend, with default settings."""
    process = deployment.start_server("main")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def served_schema(server: ServerProcess) -> OpenApiSchema:
    """The OpenAPI document the shared server serves."""
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


@pytest.fixture
def client(server: ServerProcess, served_schema: OpenApiSchema) -> Iterator[httpx.Client]:
    """A client of the shared server; every response it receives must be one the document
    describes (status, content type, body), or the test fails."""
    problems: list[str] = []

    def conforms(response: httpx.Response) -> None:
        response.read()
        request = response.request
        operation = served_schema.find_operation_by_path(request.method, request.url.path)
        if operation is None:
            return  # a path the document does not have: an unknown route, /metrics
        try:
            operation.validate_response(response)
        except Exception as error:
            problems.append(f"{request.method} {request.url.path} → {response.status_code}: {error}")

    with server.client() as http:
        http.event_hooks["response"].append(conforms)
        yield http
    assert not problems, "responses the OpenAPI document does not describe:\n" + "\n".join(problems)


@pytest.fixture
def population(deployment: Deployment) -> Population:
    return deployment.population


@pytest.fixture(scope="module")
def proxy(postgres_deployment: Deployment) -> Iterator[TcpProxy]:
    """A proxy between this module's server and PostgreSQL, to cut or silence the database."""
    url = make_url(postgres_deployment.database_url)
    tcp = TcpProxy(url.host or "127.0.0.1", url.port or 5432).open()
    yield tcp
    tcp.close()


@pytest.fixture(scope="module")
def proxied_server(
    request: pytest.FixtureRequest, postgres_deployment: Deployment, proxy: TcpProxy
) -> Iterator[ServerProcess]:
    """A server reaching PostgreSQL through `proxy`, one per test module."""
    url = make_url(postgres_deployment.database_url).set(host="127.0.0.1", port=proxy.port)
    process = postgres_deployment.start_server(
        request.module.__name__.rsplit(".", 1)[-1], DATABASE_URL=url.render_as_string(hide_password=False)
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def models_dir(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the SQLite deployment's registry for this module alone, so that what a module
    does to its models leaves other servers' models alone."""
    copy = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(sqlite_deployment.models_dir, copy)
    return copy
