"""plat's own HTTP/1.1 client (tui/http_wire.py) against a real socket server on loopback that
answers with the framings HTTP allows, closes kept-alive connections, or stops mid-answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from platd.spec.errors import DaemonUnreachable, NotFound
from tui.client import Client
from tui.http_wire import BadResponse, Connection, ConnectionClosed

Handler = Callable[[socket.socket, bytes], bool]  # answers one request; False: close


class Server:
    """Accepts connections on ``host``; for each request calls ``handler`` with the request
    bytes (head and body). Counts connections and requests."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((host, 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + reader.read(length)
                self.requests.append(request)
                if not self.handler(conn, request):
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, host: str = "127.0.0.1") -> Server:
        servers.append(Server(handler, host))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def json_answer(body: bytes = b'{"ok": true}', status: str = "200 OK") -> Handler:
    def handler(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        return True
    return handler


def test_requests_share_one_kept_alive_connection(serve: Callable[..., Server]) -> None:
    server = serve(json_answer())
    client = Client(f"http://127.0.0.1:{server.port}", "tok-1")
    assert client.get("/v1/a") == {"ok": True}
    assert client.post("/v1/b", {"x": 1}) == {"ok": True}
    assert server.connections == 1
    first, second = server.requests
    assert first.startswith(b"GET /v1/a HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
    assert b"Authorization: Bearer tok-1\r\n" in first
    assert second.startswith(b"POST /v1/b HTTP/1.1\r\n")
    assert second.endswith(b'\r\n\r\n{"x": 1}')
    assert b"Content-Length: 8\r\n" in second


def test_chunked_and_close_delimited_bodies(serve: Callable[..., Server]) -> None:
    def chunked(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5;ext=1\r\n{\"a\":\r\n4\r\n [1,\r\n4\r\n 2]}\r\n0\r\nX-Trailer: t\r\n\r\n")
        return True

    def until_close(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b'{"b": "' + b"x" * 100_000 + b'"}')
        return False

    client = Client(f"http://127.0.0.1:{serve(chunked).port}", None)
    assert client.get("/") == {"a": [1, 2]}
    assert client.get("/") == {"a": [1, 2]}, "the connection stays usable after a chunked body"
    assert Client(f"http://127.0.0.1:{serve(until_close).port}", None).get("/") == \
        {"b": "x" * 100_000}


def test_an_error_answer_becomes_the_daemons_error(serve: Callable[..., Server]) -> None:
    body = b'{"error": {"code": "not_found", "message": "no app web", "hint": ["plat apps"]}}'
    server = serve(json_answer(body, "404 Not Found"))
    with pytest.raises(NotFound) as raised:
        Client(f"http://127.0.0.1:{server.port}", None).get("/v1/apps/web")
    assert raised.value.message == "no app web"


def test_a_connection_the_server_closed_is_replaced_once(serve: Callable[..., Server]) -> None:
    answered = json_answer()

    def answer_then_close(conn: socket.socket, request: bytes) -> bool:
        answered(conn, request)
        return False  # as a daemon does with an idle kept-alive connection

    server = serve(answer_then_close)
    client = Client(f"http://127.0.0.1:{server.port}", None)
    for _ in range(3):
        assert client.post("/v1/x", {}) == {"ok": True}
    assert len(server.requests) == 3, "each request was carried out exactly once"
    assert server.connections == 3


def test_an_answer_cut_short_is_an_error_and_is_not_sent_again(
        serve: Callable[..., Server]) -> None:
    def cut(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial")
        return False

    server = serve(cut)
    with pytest.raises(DaemonUnreachable, match="ended after 9 of 100 bytes"):
        Client(f"http://127.0.0.1:{server.port}", None).post("/v1/deploy", {})
    assert len(server.requests) == 1, "a request that may have been carried out is not repeated"


def test_not_http_and_silence(serve: Callable[..., Server]) -> None:
    def garbage(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        return False

    with pytest.raises(DaemonUnreachable, match="not an HTTP response"):
        Client(f"http://127.0.0.1:{serve(garbage).port}", None).get("/")

    silent = serve(lambda conn, request: True)
    with pytest.raises(DaemonUnreachable, match="cannot reach platd"):
        Client(f"http://127.0.0.1:{silent.port}", None, timeout=0.3).get("/")


def test_ipv6_address_in_the_host_header(serve: Callable[..., Server]) -> None:
    server = serve(json_answer(), host="::1")
    assert Client(f"http://[::1]:{server.port}", None).get("/") == {"ok": True}
    assert f"Host: [::1]:{server.port}\r\n".encode() in server.requests[0]


def test_connection_level_errors(serve: Callable[..., Server]) -> None:
    def close_at_once(conn: socket.socket, request: bytes) -> bool:
        return False

    conn = Connection("127.0.0.1", serve(close_at_once).port, timeout=2)
    with pytest.raises(ConnectionClosed):
        conn.request("GET", "/", {})
    assert conn.sock is None, "closed after an error, reopened by the next request"

    def bad_length(c: socket.socket, request: bytes) -> bool:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n")
        return False

    with pytest.raises(BadResponse, match="not a length"):
        Connection("127.0.0.1", serve(bad_length).port, timeout=2).request("GET", "/", {})


def test_interim_answers_are_skipped_and_http_1_0_is_not_reused(
        serve: Callable[..., Server]) -> None:
    def continue_then_answer(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                     b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        return True  # the server keeps the socket open; HTTP/1.0 says the client must not reuse it

    server = serve(continue_then_answer)
    conn = Connection("127.0.0.1", server.port, timeout=2)
    assert conn.request("GET", "/", {}).body == b"{}"
    assert conn.sock is None
    assert conn.request("GET", "/", {}).status == 200
    assert server.connections == 2
