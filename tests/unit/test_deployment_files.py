"""The Dockerfile, the compose stack, .env.example and the scripts agree with the code they run.

There is no Docker engine in CI, so these tests read the files and check every claim they make
against the application: settings names, ports and health paths, commands and their options.
The last test runs the image's start command itself (without a container) and probes it with the
image's health check.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import BaseModel
from uvicorn.main import main as uvicorn_main

from app.infrastructure.config import ModelSettings, Settings
from app.main import create_app
from cli.main import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OUR_SERVICES = ("ml-service", "init", "retrain", "mlflow")  # built from this repository's Dockerfile
# Read from the environment by code outside Settings: training's MLflow client, the metrics
# module, the MLflow server.
NON_SETTINGS_ENV = {"MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"}
# Documented in .env.example for docker compose's own interpolation.
COMPOSE_VARIABLES = {"RETRAIN_INTERVAL_SECONDS", "POSTGRES_HOST_PORT"}
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)")


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined, each tagged with its build stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: list[Instruction] = []
    stage = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else ""
        out.append(Instruction(stage, keyword.upper(), " ".join(args.split())))
    return out


def stage_instructions(stage: str, keyword: str) -> list[str]:
    return [i.args for i in dockerfile() if i.stage == stage and i.keyword == keyword]


def exec_form(args: str) -> list[str]:
    argv = json.loads(args)
    assert isinstance(argv, list), f"use the exec form (a JSON list): {args}"
    return [str(a) for a in argv]


def image_cmd(stage: str) -> list[str]:
    (cmd,) = stage_instructions(stage, "CMD")
    return exec_form(cmd)


def setting_env_names() -> set[str]:
    """Every environment variable Settings reads: ML_<FIELD>, ML_<GROUP>__<FIELD> or an alias."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
        elif isinstance(group, type) and issubclass(group, BaseModel):
            names |= {f"ML_{name}__{sub}".upper() for sub in group.model_fields}
        else:
            names.add(f"ML_{name}".upper())
    return names


def env_example() -> dict[str, str]:
    pairs = re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    return dict(pairs)


def service_environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def app_status(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], int]]:
    """GET a path on the app (lifespan run, empty SQLite database, no model) and return the status."""
    tmp = tmp_path_factory.mktemp("app")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'app.db'}",
        model=ModelSettings(models_dir=tmp / "models"),
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        yield lambda path: client.get(path).status_code


def health_probes() -> dict[str, list[str]]:
    """The image's HEALTHCHECK and the compose service's healthcheck, as argv."""
    (check,) = stage_instructions("runtime", "HEALTHCHECK")
    compose_test = SERVICES["ml-service"]["healthcheck"]["test"]
    assert compose_test[0] == "CMD"
    return {"image": exec_form(check.split(" CMD ", 1)[1]), "compose": list(compose_test[1:])}


# ---------------------------------------------------------------- .env.example


def test_env_example_lists_every_setting_and_nothing_unknown() -> None:
    documented = set(env_example())
    assert setting_env_names() - documented == set(), "settings missing from .env.example"
    assert documented - setting_env_names() - NON_SETTINGS_ENV - COMPOSE_VARIABLES == set()


def test_env_example_shows_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = {k: v for k, v in env_example().items() if k in setting_env_names()}
    for name, value in documented.items():
        monkeypatch.setenv(name, value)
    from_example = Settings(_env_file=None).model_dump()
    for name in documented:
        monkeypatch.delenv(name)
    defaults = Settings(_env_file=None).model_dump()
    # Paths under the project and the example PostgreSQL URL differ by design; an empty key is unset.
    for values in (from_example, defaults):
        del values["database_url"], values["model"]["models_dir"], values["api_key"]
    assert from_example == defaults


# ---------------------------------------------------------------- compose


@pytest.mark.parametrize("service", OUR_SERVICES)
def test_compose_gives_our_services_only_real_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = service_environment(service)
    assert set(env) - setting_env_names() - NON_SETTINGS_ENV == set()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Settings(_env_file=None)  # the values validate


@pytest.mark.parametrize("service", ["ml-service", "init", "retrain"])
def test_services_use_the_compose_postgres_and_an_optional_env_file(service: str) -> None:
    url = service_environment(service)["DATABASE_URL"]
    postgres = SERVICES["postgres"]["environment"]
    assert url == (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert SERVICES[service]["env_file"] == [{"path": ".env", "required": False}]


def test_the_api_waits_for_a_healthy_database_and_a_finished_init_job() -> None:
    assert SERVICES["ml-service"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "init": {"condition": "service_completed_successfully"},
    }
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])


def test_services_build_targets_that_the_dockerfile_defines() -> None:
    stages = {i.stage for i in dockerfile() if i.keyword == "FROM"}
    targets = {name: SERVICES[name]["build"]["target"] for name in OUR_SERVICES}
    assert targets == {
        "ml-service": "runtime",
        "init": "training",
        "retrain": "training",
        "mlflow": "training",
    }
    assert set(targets.values()) <= stages
    assert SERVICES["retrain"]["profiles"] == ["retrain"]


def test_training_jobs_and_the_mlflow_ui_share_one_tracking_store() -> None:
    uris = {service_environment(name)["MLFLOW_TRACKING_URI"] for name in ("init", "retrain")}
    (uri,) = uris
    server = SERVICES["mlflow"]["command"]
    assert server[server.index("--backend-store-uri") + 1] == uri
    store_dir = uri.removeprefix("sqlite:///").rsplit("/", 1)[0]
    for name in ("init", "retrain", "mlflow"):
        assert f"mlruns:{store_dir}" in SERVICES[name]["volumes"]


def test_the_api_and_the_training_jobs_share_the_models_volume() -> None:
    models_dir = "/app/models"  # the image installs the project at /app: Settings' default models dir
    for name in ("ml-service", "init", "retrain"):
        assert f"models:{models_dir}" in SERVICES[name]["volumes"]
    assert set(COMPOSE["volumes"]) >= {"models", "mlruns", "postgres-data"}


def test_every_file_the_stack_mounts_exists() -> None:
    sources = [
        volume.split(":", 1)[0]
        for service in SERVICES.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []


# ---------------------------------------------------------------- ports, health, metrics


def test_ports_and_health_checks_agree_with_the_app(app_status: Callable[[str], int]) -> None:
    assert stage_instructions("runtime", "EXPOSE") == ["8000"]
    cmd = image_cmd("runtime")
    assert cmd[cmd.index("--port") + 1] == "8000"
    assert SERVICES["ml-service"]["ports"] == ["127.0.0.1:8000:8000"]
    for where, probe in health_probes().items():
        assert probe[:2] == ["python", "-c"], f"{where}: the slim image has no curl"
        port, path = HEALTH_URL.findall(probe[2])[0]
        assert (port, app_status(path)) == ("8000", 200), where


def test_prometheus_scrapes_the_metrics_endpoint_of_the_api_service(app_status: Callable[[str], int]) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert app_status(job["metrics_path"]) == 200
    assert job["static_configs"] == [{"targets": ["ml-service:8000"]}]
    prometheus = SERVICES["prometheus"]
    config_file = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert f"./deploy/prometheus.yml:{config_file.split('=', 1)[1]}:ro" in prometheus["volumes"]


# ---------------------------------------------------------------- Dockerfile


def test_the_runtime_image_is_the_default_target_and_installs_no_training_or_dev_groups() -> None:
    froms = [i for i in dockerfile() if i.keyword == "FROM"]
    assert froms[-1].stage == "runtime"
    runtime_sync = [a for a in stage_instructions("build-runtime", "RUN") if "uv sync" in a]
    training_sync = [a for a in stage_instructions("build-training", "RUN") if "uv sync" in a]
    assert len(runtime_sync) == len(training_sync) == 2  # dependencies first, then the project
    assert all("--no-default-groups" in a and "--group" not in a for a in runtime_sync)
    assert all("--no-default-groups --group training" in a for a in training_sync)
    assert "--no-install-project" in runtime_sync[0]
    assert "--no-install-project" in training_sync[0]


def test_the_dockerfile_does_not_need_the_uncommitted_lock_file() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"--locked|--frozen|^COPY .*uv\.lock", text, re.MULTILINE) is None
    assert "uv.lock" in (ROOT / ".dockerignore").read_text().splitlines()


def test_the_images_run_without_root_uv_or_compilers_on_the_builders_python() -> None:
    froms = {i.stage: i.args.split(" AS ")[0] for i in dockerfile() if i.keyword == "FROM"}
    assert froms["runtime"] == froms["training"] == "runtime-base"
    # The virtual environment is copied from the builder: its interpreter path must be the same.
    assert froms["runtime-base"] == froms["build-base"] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in [
        f"ARG {i.args}" for i in dockerfile() if i.keyword == "ARG"
    ]
    for stage in ("runtime", "training"):
        assert stage_instructions(stage, "USER") == ["app"]
        assert [c for c in stage_instructions(stage, "COPY") if not c.startswith("--from=build-")] == []
    assert stage_instructions("runtime-base", "COPY") == []


def test_the_build_context_keeps_every_package_of_the_project() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    packages = set(PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    scripts = {target.split(".")[0].split(":")[0] for target in PYPROJECT["project"]["scripts"].values()}
    needed = {"pyproject.toml", "README.md", "alembic.ini", "migrations"} | packages - {"data"} | scripts
    assert needed - allowed == set()
    assert "data/*.py" in allowed  # the data package without local datasets and databases


# ---------------------------------------------------------------- commands


def _our_commands() -> dict[str, list[str]]:
    commands = {f"image {stage}": image_cmd(stage) for stage in ("runtime", "training")}
    for name in OUR_SERVICES:
        argv = [str(a) for a in SERVICES[name]["command"]]
        if argv[:2] == ["sh", "-c"]:
            for n, part in enumerate(argv[2].split("&&")):
                commands[f"{name} {n}"] = shlex.split(part)
        else:
            commands[name] = argv
    return commands


OUR_COMMANDS = _our_commands()


def _program_prefix(argv: list[str]) -> list[str]:
    """The program and its subcommand words: what `--help` is appended to."""
    if argv[:2] == ["python", "-m"]:
        return argv[:3]
    prefix = [argv[0]]
    for token in argv[1:]:
        if token.startswith("-") or ":" in token:
            break
        prefix.append(token)
    return prefix


def _console_script_distributions(program: str) -> set[str]:
    entries = [e for e in metadata.entry_points(group="console_scripts") if e.name == program]
    return {canonicalize_name(e.dist.name) for e in entries if e.dist is not None}


def test_our_services_run_programs_their_image_installs() -> None:
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    training = runtime | {
        canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependency-groups"]["training"]
    }
    project = canonicalize_name(PYPROJECT["project"]["name"])
    target = {"image runtime": "runtime"} | {
        key: SERVICES[key.split(" ")[0]]["build"]["target"]
        for key in OUR_COMMANDS
        if not key.startswith("image")
    }
    for key, argv in OUR_COMMANDS.items():
        installed = runtime if target.get(key, "training") == "runtime" else training
        if argv[0] != "python":
            assert _console_script_distributions(argv[0]) & (installed | {project}), key
    assert "ml-service" in PYPROJECT["project"]["scripts"]


def _help_text(prefix: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`<prefix> --help` as its program prints it; our own commands and uvicorn run in-process."""
    if prefix[0] in ("ml-service", "python"):
        entry = cli_main if prefix[0] == "ml-service" else importlib.import_module(prefix[2]).main
        args = prefix[1:] if prefix[0] == "ml-service" else []
        with pytest.raises(SystemExit) as exit_info:
            entry([*args, "--help"])
        assert exit_info.value.code in (0, None)
        return capsys.readouterr().out
    if prefix[0] == "uvicorn":
        result = CliRunner().invoke(uvicorn_main, ["--help"])
        assert result.exit_code == 0
        return result.output
    # Other programs (mlflow) in a subprocess: importing mlflow here would slow every test run.
    done = subprocess.run(
        [str(BIN / prefix[0]), *prefix[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("key", sorted(OUR_COMMANDS))
def test_every_command_the_stack_runs_exists_with_its_options(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = OUR_COMMANDS[key]
    text = _help_text(_program_prefix(argv), capsys)
    options = [token.split("=", 1)[0] for token in argv if token.startswith("--")]
    assert [option for option in options if not re.search(rf"(?<![\w-]){option}(?![\w-])", text)] == []


# ---------------------------------------------------------------- scripts


@pytest.mark.parametrize("name", ["run_dev.sh", "run_tests.sh", "train_model.sh"])
def test_scripts_are_strict_executable_and_start_at_the_repository_root(name: str) -> None:
    script = ROOT / "scripts" / name
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert 'cd "$(dirname "$0")/.."' in text
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_the_test_script_runs_pytest_from_any_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "run_tests.sh"), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pytest" in result.stdout + result.stderr


# ---------------------------------------------------------------- the image's start command, run here


def _runtime_distributions() -> set[str]:
    """The project and everything its runtime dependencies pull in: what the runtime image holds."""
    seen: set[str] = {canonicalize_name(PYPROJECT["project"]["name"])}
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        extras = {"", *requirement.extras}
        for raw in requires:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(sub)
    return seen


def _modules_missing_from_the_runtime_image() -> set[str]:
    runtime = _runtime_distributions()
    return {
        module
        for module, dists in metadata.packages_distributions().items()
        if not {canonicalize_name(d) for d in dists} & runtime
    }


SITECUSTOMIZE = """
import sys

BLOCKED = set({blocked!r})


class RuntimeImageOnly:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the runtime image)", name=name)
        return None


sys.meta_path.insert(0, RuntimeImageOnly())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def runtime_only_env(tmp_path: Path) -> dict[str, str]:
    """Only the runtime image's packages import here; an empty database and models dir."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(blocked=sorted(_modules_missing_from_the_runtime_image()))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "PROMETHEUS_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(site),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "ML_MODEL__MODELS_DIR": str(tmp_path / "models"),
        "ML_LOG_JSON": "false",
    }
    blocked = subprocess.run(
        [sys.executable, "-c", "import mlflow"], env=env, capture_output=True, check=False
    )
    assert blocked.returncode != 0, "the training group must not import in the runtime-only environment"
    return env


@pytest.fixture
def image_server(runtime_only_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    """The runtime image's CMD with host and port swapped for this machine; yields the port."""
    port = _free_port()
    argv = image_cmd("runtime")
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    argv[0] = str(BIN / argv[0])
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(argv, cwd=tmp_path, env=runtime_only_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if _get(f"http://127.0.0.1:{port}/health/live")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no answer on /health/live within 60 s"
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.e2e
def test_the_image_start_command_serves_degraded_health_without_a_model_or_training_packages(
    image_server: int, runtime_only_env: dict[str, str]
) -> None:
    status, body = _get(f"http://127.0.0.1:{image_server}/health")
    assert status == 200
    assert (body["status"], body["model_loaded"]) == ("degraded", False)
    for where, probe in health_probes().items():
        probe[2] = probe[2].replace("127.0.0.1:8000", f"127.0.0.1:{image_server}")
        result = subprocess.run(
            [sys.executable, *probe[1:]], env=runtime_only_env, capture_output=True, timeout=30, check=False
        )
        assert result.returncode == 0, (where, result.stderr)
