"""plat's HTTP client (tui/client.py, on http.client) against a real socket server on loopback
that answers with the framings HTTP allows, closes kept-alive connections, stops mid-answer, or
speaks TLS: what the client must do is tested, not how."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from platd.spec.errors import DaemonUnreachable, NotFound
from tui.client import Client

Handler = Callable[[socket.socket, bytes], bool]  # answers one request; False: close


class Server:
    """Accepts connections on ``host``; for each request calls ``handler`` with the request
    bytes (head and body). Counts connections and requests."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", tls: Any = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((host, 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.tls = tls  # an ssl.SSLContext: speak TLS
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
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused our certificate
                conn.close()
                return
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

    with pytest.raises(DaemonUnreachable, match=r"not an HTTP response: 'SSH-2\.0-OpenSSH_9\.2"):
        Client(f"http://127.0.0.1:{serve(garbage).port}", None).get("/")

    silent = serve(lambda conn, request: True)
    with pytest.raises(DaemonUnreachable, match="cannot reach platd"):
        Client(f"http://127.0.0.1:{silent.port}", None, timeout=0.3).get("/")


def test_ipv6_address_in_the_host_header(serve: Callable[..., Server]) -> None:
    server = serve(json_answer(), host="::1")
    assert Client(f"http://[::1]:{server.port}", None).get("/") == {"ok": True}
    assert f"Host: [::1]:{server.port}\r\n".encode() in server.requests[0]


def test_a_daemon_that_hangs_up_on_every_request_is_tried_twice(
        serve: Callable[..., Server]) -> None:
    def close_at_once(conn: socket.socket, request: bytes) -> bool:
        return False

    server = serve(close_at_once)
    client = Client(f"http://127.0.0.1:{server.port}", None, timeout=2)
    with pytest.raises(DaemonUnreachable, match="closed the connection without answering"):
        client.get("/")
    assert len(server.requests) == 2, "once, then once more on a new connection"
    server.handler = json_answer()
    assert client.get("/") == {"ok": True}, "the next request opens a new connection"


def test_interim_answers_are_skipped_and_http_1_0_is_not_reused(
        serve: Callable[..., Server]) -> None:
    def continue_then_answer(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                     b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        return True  # the server keeps the socket open; HTTP/1.0 says the client must not reuse it

    server = serve(continue_then_answer)
    client = Client(f"http://127.0.0.1:{server.port}", None, timeout=2)
    assert client.get("/") == {}
    assert client.get("/") == {}
    assert server.connections == 2
    assert len(server.requests) == 2


def test_abort_ends_a_long_poll_at_once_and_refuses_new_requests(
        serve: Callable[..., Server]) -> None:
    """What the TUI does to its clients when it quits: no waiting for a long poll to end."""
    import time

    server = serve(lambda conn, request: True)  # never answers: a long poll
    client = Client(f"http://127.0.0.1:{server.port}", None, timeout=30)
    failed: list[BaseException] = []

    def poll() -> None:
        try:
            client.get("/v1/events", wait=20)
        except DaemonUnreachable as e:
            failed.append(e)

    thread = threading.Thread(target=poll)
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    client.abort()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert len(failed) == 1
    with pytest.raises(DaemonUnreachable, match="the client was closed"):
        client.get("/")


@pytest.fixture
def tls_server(tmp_path: Any) -> Iterator[tuple[int, str]]:
    """A TLS server on loopback with a certificate from a CA of the test's own: (port, the
    CA's PEM file)."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plat test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = (tmp_path / "ca.pem", tmp_path / "cert.pem",
                                    tmp_path / "key.pem")
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = Server(json_answer(b'{"secure": true}'), tls=context)
    yield server.port, str(ca_file)
    server.close()


def test_https_verifies_the_daemons_certificate(tls_server: tuple[int, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    port, ca_file = tls_server
    with pytest.raises(DaemonUnreachable, match="is not one to trust: unable to get local"):
        Client(f"https://127.0.0.1:{port}", None, timeout=5).get("/")
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # trust the test's CA, as a host's store would
    client = Client(f"https://127.0.0.1:{port}", "tok", timeout=5)
    assert client.get("/v1/a") == {"secure": True}
    assert client.get("/v1/b") == {"secure": True}


def test_ssl_is_imported_by_the_first_https_request_not_by_the_client(
        tls_server: tuple[int, str]) -> None:
    """A read command over http:// never loads OpenSSL and the other modules only other paths
    use (start-up time); over https:// the stand-in ``tui.client`` put in place becomes the
    real ssl and the certificate is checked as ever; an IPv6 address gets ipaddress."""
    import subprocess
    import sys

    port, ca_file = tls_server
    script = (
        "import sys\n"
        "from tui.client import Client\n"
        "from tui.lazy_modules import LEFT_FOR_FIRST_USE, Deferred\n"
        "print(all(isinstance(sys.modules[m], Deferred) for m in LEFT_FOR_FIRST_USE),"
        " '_ssl' in sys.modules)\n"
        "Client('http://[::1]:7400', None)  # a bracketed host: ipaddress checks it\n"
        f"print(Client('https://127.0.0.1:{port}', 'tok', timeout=5).get('/v1/a'))\n"
        "print(type(sys.modules['ssl']).__name__, type(sys.modules['ipaddress']).__name__)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, env={"SSL_CERT_FILE": ca_file, "PATH": "/usr/bin:/bin"})
    assert out.stdout.splitlines() == ["True False", "{'secure': True}", "module module"], \
        out.stderr
