"""HTTP/1.1 on one kept-alive socket: exactly what plat's client needs, and nothing more.

``http.client`` would do, but importing it costs about 10 ms (it pulls in ``email.parser`` and
``ssl``) and ``plat`` pays for every import on every start, where the whole budget for a read
command is a few times ``docker ps``. This speaks the subset platd answers with: one request at
a time, a response framed by Content-Length, chunked encoding or the end of the connection.
TLS (``https://`` API addresses) loads ``ssl`` only when it is used.
"""

from __future__ import annotations

import socket
from typing import BinaryIO

MAX_LINE = 65536
MAX_HEADERS = 100


class ConnectionClosed(ConnectionError):
    """The server closed the connection before answering (a kept-alive one it had timed out,
    or a restart): the request may be sent again on a new connection."""


class BadResponse(ConnectionError):
    """The server answered something that is not HTTP/1.x, or stopped in the middle of a
    response (then the request may have been carried out: it is not sent again)."""


class Response:
    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers  # names in lower case; a repeated header keeps its last value
        self.body = body


class Connection:
    """One connection to ``host:port``, opened on first use and again after it closes."""

    def __init__(self, host: str, port: int, *, https: bool = False,
                 timeout: float | None = None) -> None:
        self.host = host
        self.port = port
        self.https = https
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        host_part = f"[{host}]" if ":" in host else host
        default_port = 443 if https else 80
        self._host_header = host_part if port == default_port else f"{host_part}:{port}"

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout
        if self.sock is not None:
            self.sock.settimeout(timeout)

    def close(self) -> None:
        reader, sock = self._reader, self.sock
        self._reader = self.sock = None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()

    def request(self, method: str, path: str, headers: dict[str, str],
                body: bytes | None = None) -> Response:
        """Sends one request and reads its whole response. Raises ``ConnectionClosed`` if the
        server closed the connection before answering, ``OSError`` (``TimeoutError`` included)
        for the rest; the connection is closed after any error."""
        if self.sock is None:
            self._connect()
        assert self.sock is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.sock.sendall(head + body if body else head)
            response = self._read_response(method)
        except BaseException:
            self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.https:
            import ssl  # only for https:// addresses: it costs ~4 ms to import

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self._reader = sock.makefile("rb")

    def _line(self) -> bytes:
        assert self._reader is not None
        line = self._reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadResponse("a response line is longer than 64 KiB")
        return line

    def _read_response(self, method: str) -> Response:
        while True:
            response = self._read_one(method)
            if not 100 <= response.status < 200:  # interim answers (100 Continue) are skipped
                return response

    def _read_one(self, method: str) -> Response:
        status_line = self._line()
        if not status_line:
            raise ConnectionClosed("the server closed the connection without answering")
        version, _, rest = status_line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadResponse(f"not an HTTP response: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise BadResponse(f"more than {MAX_HEADERS} headers in a response")
        status = int(code)
        if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers["connection"] = "close"  # HTTP/1.0 closes after each answer by default
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(_number(headers["content-length"], 10))
        else:  # framed by the end of the connection
            assert self._reader is not None
            body = self._reader.read()
            headers["connection"] = "close"
        return Response(status, reason, headers, body)

    def _read_exactly(self, size: int) -> bytes:
        assert self._reader is not None
        data = self._reader.read(size)
        if len(data) != size:
            raise BadResponse(f"the response ended after {len(data)} of {size} bytes")
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self._line()
            if not size_line:
                raise BadResponse("the response ended inside its chunked body")
            size = _number(size_line.split(b";", 1)[0].decode("latin-1"), 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: none that plat uses
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            self._read_exactly(2)  # the CRLF after each chunk


def _number(text: str, base: int) -> int:
    try:
        value = int(text.strip(), base)
    except ValueError:
        raise BadResponse(f"not a length: {text[:40]!r}") from None
    if value < 0:
        raise BadResponse(f"a negative length: {value}")
    return value
