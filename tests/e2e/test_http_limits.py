"""Request heads are bounded and slow clients are dropped, over raw sockets to a real server: a huge
header or a flood of them gets 431 without the server buffering megabytes, and a client that
trickles its head or body gets 408 and loses the connection. Every way of starting the service
applies the limits."""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.0
# Body deadline: the header timeout plus ML_MAX_BODY_BYTES (1 MiB) at this rate, 2 s in all.
BODY_RATE = 1_048_576
BODY_TIMEOUT = 2.0
CHUNK = 65_536
FLOOD_BYTES = 16 * 1024 * 1024
# Peak memory a refused flood may add to the worker (it added 190 MB for a million headers).
MEMORY_GROWTH_BYTES = 24 * 1024 * 1024


def env_of(work: Path) -> dict[str, str]:
    """An empty SQLite database and no model: enough to serve /health/live and refuse requests."""
    return {
        "DATABASE_URL": f"sqlite:///{work / 'limits.db'}",
        "ML_MODEL__MODELS_DIR": str(work / "models"),
        "ML_MODEL__RELOAD_INTERVAL_SECONDS": "0",
        "ML_CLEANUP_INTERVAL_SECONDS": "0",
        "ML_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "ML_MIN_BODY_BYTES_PER_SECOND": str(BODY_RATE),
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-limits")


@pytest.fixture(scope="module")
def server(work: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(env_of(work), work / "server.log").start()
    yield process
    process.stop()


class ServeCommand(ServerProcess):
    """`ml-service serve`, the image's start command."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port)]


class PlainUvicorn(ServerProcess):
    """uvicorn without the service's protocol: what someone's own start command may do."""

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--http") if "--http" in command else len(command)
        return command[:at] + command[at + 2 :]


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout` passes)."""
    sock.settimeout(timeout)
    answer = b""
    try:
        while chunk := sock.recv(CHUNK):
            answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def stream(sock: socket.socket, chunks: Iterator[bytes], pause: float = 0.0) -> int:
    """Sends chunks until the server answers or drops the connection; the bytes it accepted."""
    sent = 0
    for chunk in chunks:
        if answered(sock):
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            break
        sent += len(chunk)
        time.sleep(pause)
    return sent


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def body_of(answer: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def head(*headers: bytes, path: bytes = b"/health/live") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def one_header_growing() -> Iterator[bytes]:
    yield b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: "
    for _ in range(FLOOD_BYTES // CHUNK):
        yield b"a" * CHUNK


def headers_without_end() -> Iterator[bytes]:
    yield b"GET /health/live HTTP/1.1\r\nHost: test\r\n"
    line = b"X-Many: v\r\n"
    for _ in range(FLOOD_BYTES // CHUNK):
        yield line * (CHUNK // len(line))


@pytest.mark.parametrize(
    "flood", [one_header_growing, headers_without_end], ids=["huge-header", "many-headers"]
)
def test_a_flood_of_header_bytes_is_refused_with_431_without_being_buffered(
    server: ServerProcess, flood: Callable[[], Iterator[bytes]]
) -> None:
    with server.client() as http:
        assert http.get("/health/live").status_code == 200
    before = peak_memory(server.pid)
    started = time.monotonic()
    with connect(server) as sock:
        sent = stream(sock, flood())
        answer = read_answer(sock)
    seconds = time.monotonic() - started

    assert status_of(answer) == 431, answer[:300]
    assert body_of(answer)["error"] == "request_header_fields_too_large"
    assert seconds < 5
    assert sent < FLOOD_BYTES / 2, "the server kept reading"
    assert peak_memory(server.pid) - before < MEMORY_GROWTH_BYTES


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (head(b"X-Big: " + b"a" * 70_000), 431),
        (head(*(b"X-%d: v" % i for i in range(101))), 431),
        (head(path=b"/health/live?" + b"a" * 70_000), 414),
    ],
    ids=["70-kib-header-in-one-read", "101-fields", "70-kib-url"],
)
def test_a_head_over_the_limits_is_refused_even_when_it_arrives_in_one_read(
    server: ServerProcess, request_head: bytes, status: int
) -> None:
    with connect(server) as sock:
        sock.sendall(request_head)
        answer = read_answer(sock)

    assert status_of(answer) == status, answer[:300]
    body = body_of(answer)
    assert set(body) == {"error", "detail", "request_id"}
    assert f"x-request-id: {body['request_id']}".encode() in answer


@pytest.mark.parametrize(
    "request_head",
    [head(b"X-Big: " + b"a" * 60_000), head(*(b"X-%d: v" % i for i in range(98)))],
    ids=["60-kib-header", "99-fields"],
)
def test_a_head_within_the_limits_is_served(server: ServerProcess, request_head: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(request_head.replace(b"Host: test", b"Host: test\r\nConnection: close"))
        answer = read_answer(sock)

    assert status_of(answer) == 200, answer[:300]


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server: ServerProcess) -> None:
    started = time.monotonic()
    with connect(server) as sock:
        answer = read_answer(sock, timeout=10)
    seconds = time.monotonic() - started

    assert answer == b""
    assert HEADER_TIMEOUT * 0.8 < seconds < HEADER_TIMEOUT + 3


def test_a_head_trickled_byte_by_byte_gets_408_at_the_header_timeout(server: ServerProcess) -> None:
    trickle = (bytes([byte]) for byte in b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 12)
    started = time.monotonic()
    with connect(server) as sock:
        stream(sock, trickle, pause=0.1)
        answer = read_answer(sock)
    seconds = time.monotonic() - started

    assert status_of(answer) == 408, answer[:300]
    assert body_of(answer)["error"] == "request_timeout"
    assert seconds < HEADER_TIMEOUT + 3


def test_a_body_trickled_byte_by_byte_gets_408_at_the_body_timeout(server: ServerProcess) -> None:
    body = json.dumps({"user_id": "0" * 36, "padding": "a" * 20}).encode()
    request = (
        b"POST /interactions/track HTTP/1.1\r\nHost: test\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(request)
        stream(sock, (bytes([byte]) for byte in body), pause=0.1)
        answer = read_answer(sock)
    seconds = time.monotonic() - started

    assert status_of(answer) == 408, answer[:300]
    assert BODY_TIMEOUT * 0.8 < seconds < BODY_TIMEOUT + 3
    with server.client() as http:
        assert http.get("/health/live").status_code == 200


def test_a_keep_alive_connection_idle_between_requests_is_served_again(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(head())
        time.sleep(HEADER_TIMEOUT + 1)  # longer than a head may take, shorter than keep-alive (5 s)
        sock.sendall(head(b"Connection: close"))
        answer = read_answer(sock)

    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer


def test_the_serve_command_applies_the_limits(work: Path) -> None:
    process = ServeCommand(env_of(work), work / "serve.log").start()
    try:
        with connect(process) as sock:
            sock.sendall(head(b"X-Big: " + b"a" * 70_000))
            answer = read_answer(sock)
    finally:
        process.stop()

    assert status_of(answer) == 431, answer[:300]
    assert "started without --http" not in process.log_path.read_text()


def test_a_server_started_without_the_protocol_says_so_in_its_log(work: Path) -> None:
    process = PlainUvicorn(env_of(work), work / "plain.log").start()
    try:
        with httpx.Client(base_url=process.base_url) as http:
            assert http.get("/health/live").status_code == 200
    finally:
        process.stop()

    log = process.log_path.read_text()
    assert "started without --http app.presentation.http_protocol:LimitedHttpProtocol" in log
