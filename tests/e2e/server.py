"""A real `uvicorn --factory app.main:create_app` in a child process, and polling with a deadline
instead of sleeps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The service's HTTP protocol, as every start command passes it (app.main.HTTP_PROTOCOL).
HTTP_PROTOCOL = "app.presentation.http_protocol:LimitedHttpProtocol"
# Variables of the caller's shell that would change the service under test.
INHERITED_BLOCKLIST = ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The current environment without ML_* settings, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ML_") and key not in INHERITED_BLOCKLIST
    }
    env.update(overrides)
    return env


def poll_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.1, message: str = "condition"
) -> T:
    """Calls `probe` until it returns something other than None; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.TransportError as error:
            last_error = error
            value = None
        if value is not None:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout} s (last error: {last_error!r})")


def run_module(module: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
    """Runs `python -m module args` from the project root; fails the test with its output on error."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=clean_environment(env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"python -m {module} failed ({completed.returncode}):\n{completed.stdout[-3000:]}\n"
            f"{completed.stderr[-3000:]}"
        )
    return completed.stdout


class ServerProcess:
    """One uvicorn process (with `workers` worker processes) on a free port of 127.0.0.1."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._env = clean_environment({"ML_LOG_JSON": "true", **env})
        self._workers = workers
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--no-access-log", "--http", HTTP_PROTOCOL]
        if self._workers > 1:
            command += ["--workers", str(self._workers)]
        return command

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), cwd=PROJECT_ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            poll_until(self._ready, timeout=timeout, interval=0.2, message=f"{self.base_url}/health/ready")
        except AssertionError as error:
            self.stop()
            raise AssertionError(f"{error}\nserver log:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool | None:
        """The database answers and the first model load has finished (as a load balancer waits)."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"server exited with {self._process.returncode}:\n{self.log_tail()}")
        response = httpx.get(f"{self.base_url}/health/ready", timeout=2)
        return True if response.status_code == 200 else None

    def stop(self) -> None:
        """Stops the process this object started (uvicorn passes the signal on to its workers)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
