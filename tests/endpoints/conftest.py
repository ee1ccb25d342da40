"""Fixtures for the ingress tests: both drivers, tiny backends, and nginx as a PROXY v2 peer."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from platd.ingress.builtin_driver import BuiltinDriver
from platd.ingress.driver import IngressDriver
from platd.ingress.haproxy import HaproxyDriver

DRIVERS = ["builtin", "haproxy"]
T = TypeVar("T")


def free_port() -> int:
    """A port free on both ::1 and 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET6) as s6:
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(("::1", 0))
            port = int(s6.getsockname()[1])
            with socket.socket() as s4:
                try:
                    s4.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@pytest.fixture(params=DRIVERS)
def driver_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (scripts/setup installs it)")
    return str(request.param)


def make_driver(kind: str, tmp: Path) -> IngressDriver:
    return HaproxyDriver(tmp / "haproxy") if kind == "haproxy" else BuiltinDriver()


def with_driver(kind: str, tmp: Path, body: Callable[[IngressDriver], Awaitable[T]]) -> T:
    """Run ``body`` with a started driver in a fresh event loop (no pytest-asyncio here)."""

    async def main() -> T:
        d = make_driver(kind, tmp)
        await d.start()
        try:
            return await body(d)
        finally:
            await d.close()

    return asyncio.run(main())


@dataclass
class Backend:
    """A TCP server on 127.0.0.1 that answers each connection with its name, then echoes."""

    name: str
    sock: socket.socket = field(init=False)
    accepted: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.sock.settimeout(0.05)  # how soon the accept loop sees ``close``
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(self.name.encode() + b"\n")
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        """Stop like an instance that exits cleanly once drained: what the proxy dialled before
        it dropped this backend, still in the accept queue on a busy machine, is answered;
        closing a listener resets its queue, which would fail a client the proxy did right by
        (the deploy test, now and then under CI load)."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.sock.fileno() < 0:
            return  # closed already (a test stopped it; the fixture closes every one)
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            conn.setblocking(True)
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()
        self.sock.close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made = [Backend(f"b{i}") for i in range(3)]
    yield made
    for b in made:
        b.close()


def first_line(host: str, port: int, timeout: float = 5.0) -> str:
    with socket.create_connection((host, port), timeout=timeout) as c:
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(100)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()


async def a_first_line(host: str, port: int) -> str:
    return await asyncio.to_thread(first_line, host, port)


@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]


@pytest.fixture
def nginx_proxy_peer(tmp_path: Path) -> Iterator[Nginx]:
    """nginx as the app: it reads the PROXY header and answers with the client it names."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (scripts/setup installs nginx-light)")
    port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    (root / "nginx.conf").write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} proxy_protocol;
        location / {{
            default_type text/plain;
            return 200 "client=$proxy_protocol_addr port=$proxy_protocol_port\\n";
        }}
    }}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(root), "-c", str(root / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield Nginx(port, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
