"""A read command's GET, sent before the HTTP client is imported, so that platd answers while
it is.

A read command (``plat status``, ``plat releases``, ``plat envs list``) spends about 12 ms
importing ``tui.client`` (``http.client``, and the ``email`` package it parses headers with),
then waits about 5 ms for platd's answer. Sent first, the request is answered during the
import: the command ends that much sooner (issue 22: read commands within 3x ``docker ps``).

Only the request is written here: a GET's request line and the headers ``tui.client`` sends
(``http.client``'s own ``Host`` and ``Accept-Encoding`` first). The answer is read by the
standard library's ``http.client.HTTPResponse`` (``Client.exchange``), so chunking, keep-alive
and every edge of a response stay the library's, and a response that cannot be read sends the
GET again the ordinary way (a GET changes nothing). For anything but ``http://`` to a host name
in ASCII or an IPv4 address, ``send`` returns None and the request goes the ordinary way. A
connection that cannot be made is said as the ordinary way says it, without a second try.
"""

from __future__ import annotations

from tui.lazy_modules import defer_unused

defer_unused()  # before socket and urllib.parse: see tui.lazy_modules

import socket  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

# tui.client's bound on a request, kept here so that a GET sent early has it without importing
# the client.
DEFAULT_TIMEOUT = 30.0


class Sent:
    """A GET on its way: the socket its answer comes on, and the path (with its query) asked;
    or, with no socket, why the connection could not be made (said as the ordinary way would
    say it, without trying again: a daemon that is not there is not waited for twice)."""

    def __init__(self, sock: socket.socket | None, path: str,
                 error: OSError | None = None) -> None:
        self.sock = sock
        self.path = path
        self.error = error

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def open_socket(address: tuple[str, int], *args: Any) -> socket.socket:
    """``socket.create_connection``, with an ASCII host name given as bytes: such a name needs
    no IDNA encoding, and applying it would import the codec (~2 ms of every command). Also
    ``tui.client``'s connection hook."""
    host, port = address
    name: Any = host.encode() if host.isascii() else host  # getaddrinfo takes bytes too
    return socket.create_connection((name, port), *args)


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text


def request_head(host: str, port: int, path: str, token: str | None) -> bytes:
    """The bytes ``http.client`` sends for ``GET path`` with ``tui.client``'s headers."""
    host_header = host if port == 80 else f"{host}:{port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host_header}", "Accept-Encoding: identity",
             "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send(api: str, token: str | None, path: str, timeout: float) -> Sent | None:
    """Connect to ``api`` and send ``GET path`` (a path with its query); None when it is not
    sent (see the module docstring)."""
    try:
        parts = urlsplit(api if "://" in api else f"http://{api}")
        host, port = parts.hostname, parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or not host or not host.isascii() or ":" in host:
        return None
    if not _plain(path) or (token and not _plain(token)):
        return None  # what http.client would refuse or encode (a line break: a header more)
    try:
        sock = open_socket((host, port), timeout)
    except OSError as e:
        return Sent(None, path, e)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
        sock.sendall(request_head(host, port, path, token))
    except OSError:
        sock.close()
        return None
    return Sent(sock, path)
