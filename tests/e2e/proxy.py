"""A TCP proxy on 127.0.0.1 that a test can cut, silence and restore, to simulate database outages."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(eq=False)
class _Link:
    """One client connection and, unless it arrived while silent, its upstream connection."""

    client: socket.socket
    upstream: socket.socket | None
    silent: bool

    def sockets(self) -> tuple[socket.socket, ...]:
        return (self.client,) if self.upstream is None else (self.client, self.upstream)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`.

    `close()` refuses new connections and severs open ones (a database that is down). `silence()`
    keeps accepting connections and reading what is sent, but passes nothing on and answers
    nothing, on the open connections and on new ones (a database cut off at the network: nothing
    is refused, nothing comes back). `forward()` forwards new connections again; a connection
    silenced stays silent until it is closed, as one whose path was lost does.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._silent = False
        self.port = 0

    def open(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            self._silent = False
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()
        return self

    def silence(self) -> None:
        with self._lock:
            self._silent = True
            for link in self._links:
                link.silent = True

    def forward(self) -> None:
        with self._lock:
            self._silent = False

    def close(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            links, self._links = self._links, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for link in links:
            for sock in link.sockets():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by close()
                return
            with self._lock:
                silent = self._silent
            upstream = None if silent else self._connect_upstream(client)
            if upstream is None and not silent:
                continue
            link = _Link(client, upstream, silent)
            with self._lock:
                if self._listener is not listener:
                    for sock in link.sockets():
                        sock.close()
                    return
                self._links.add(link)
            threading.Thread(target=self._pump, args=(link, client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(link, upstream, client), daemon=True).start()

    def _connect_upstream(self, client: socket.socket) -> socket.socket | None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return None
        upstream.settimeout(None)
        return upstream

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while data := source.recv(65536):
                if sink is not None and not link.silent:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in link.sockets():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._links.discard(link)
