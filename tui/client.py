"""The HTTP client every front end uses: the CLI, the TUI and the web console.

On the standard library's ``http.client`` (and ``ssl`` for ``https://`` API addresses): one
kept-alive connection per client, reopened once when the daemon has closed an idle one, never
retried once the daemon may have acted on a request. Errors come back as the same
``PlatError`` classes the daemon raised, so a refusal has the same message, hints and exit code
whichever side found it; anything that keeps an answer from arriving whole is
``DaemonUnreachable`` (exit 10).

Imported only when a command first talks to the daemon (``Ctx.client``): ``http.client`` and
``ssl`` are a large part of what a read command imports.
"""

from __future__ import annotations

from tui.lazy_modules import LEFT_FOR_FIRST_USE, defer

# Modules http.client (through email and socket) imports at its top that a request over
# http:// never uses are imported on first use instead: a fifth of what a read command spends
# before its first byte is sent (tui.lazy_modules says which is for what).
for _module in LEFT_FOR_FIRST_USE:
    defer(_module)

import contextlib
import http.client
import json
import socket
from urllib.parse import quote, urlencode, urlsplit

from platd.spec.errors import DaemonUnreachable, InvalidInput, PlatError, from_wire

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_TIMEOUT = 30.0
# The daemon closed the connection before answering (an idle kept-alive one it had timed out,
# or a restart): the request never reached a handler and may be sent again on a new connection.
NOT_ANSWERED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Client:
    def __init__(self, api: str, token: str | None, timeout: float = DEFAULT_TIMEOUT, *,
                 ca: str | None = None, verify: bool = True,
                 connect_timeout: float | None = None) -> None:
        """``ca``: the CA to trust for an https API (default: the one pinned at login,
        ``tui.cli.trust``); ``verify=False`` only to fetch that CA before it is accepted.
        ``connect_timeout``: a shorter bound for opening the connection than ``timeout``,
        which bounds the wait for an answer (a daemon that is not there is said so soon)."""
        parts = urlsplit(api if "://" in api else f"http://{api}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise InvalidInput(f"cannot use API address {api!r}",
                               hint="use a URL like http://127.0.0.1:7400")
        self.api = api
        self.token = token
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self._https else 80)
        self._conn: http.client.HTTPConnection | None = None
        self._aborted = False
        self._ca = ca
        self._verify = verify
        self._connect_timeout = connect_timeout

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is None:
            if self._https:
                from tui.cli import trust

                context = trust.context(self.api, self._ca) if self._verify \
                    else trust.unverified()
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=context)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            setattr(conn, "_create_connection", _open_socket)  # noqa: B010 - http.client's hook
            self._conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """From another thread: end a request in progress (a long poll) and refuse new ones,
        so a program that is quitting does not wait for a poll to time out."""
        self._aborted = True
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def request(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
        raw: bytes | None = None, content_type: str = "application/json",
        timeout: float | None = None, headers: dict[str, str] | None = None,
    ) -> Any:
        status, decoded = self.exchange(method, path, body, query=query, raw=raw,
                                        content_type=content_type, timeout=timeout,
                                        headers=headers)
        if status >= 400:
            raise from_wire(decoded if isinstance(decoded, dict) else {}, status)
        return decoded

    def exchange(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
        raw: bytes | None = None, content_type: str = "application/json",
        timeout: float | None = None, headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request: (status, decoded JSON body), whatever the status (the device flow's
        token endpoint answers in OAuth's error form, not plat's)."""
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                try:
                    path += "?" + urlencode(clean)
                except UnicodeEncodeError:
                    raise _not_text(", ".join(clean)) from None
        headers = {"Accept": "application/json", **(headers or {})}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            payload = raw if raw is not None else (
                json.dumps(body, allow_nan=False).encode() if body is not None else None)
        except ValueError:
            raise InvalidInput("a number given is not finite (NaN or infinity)",
                               hint="pass an ordinary number, e.g. --cpu 0.5") from None
        if payload is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            if self._aborted:
                raise DaemonUnreachable("the client was closed", hint=[])
            conn = self._connection(timeout or self.timeout)
            try:
                if conn.sock is None and self._connect_timeout is not None:
                    conn.timeout = self._connect_timeout
                    conn.connect()
                    if conn.sock is not None:
                        conn.sock.settimeout(timeout or self.timeout)
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except NOT_ANSWERED as e:
                self.close()
                if attempt == 2:
                    raise self._unreachable(e) from e
            except (OSError, http.client.HTTPException, ValueError) as e:
                # A timeout, a refused connection, an answer cut short or not HTTP at all:
                # the daemon may have acted on the request, so it is not sent again.
                self.close()
                raise self._unreachable(e) from e
            else:
                if response.will_close:
                    self.close()
                break
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        return status, decoded

    def _unreachable(self, e: BaseException) -> PlatError:
        if type(e).__name__ == "SSLCertVerificationError":
            return DaemonUnreachable(
                f"the certificate of {self.api} is not one to trust: "
                f"{getattr(e, 'verify_message', '') or _reason(e)}",
                hint=["it must be signed by the cluster CA pinned at plat login and name "
                      "the address used",
                      "if the cluster was made anew, check its fingerprint on a host "
                      "(platd ca) and log in again: plat login --api URL --ca-fingerprint FP",
                      "an address the certificate lacks goes into tls_names in platd.toml"],
            )
        return DaemonUnreachable(
            f"cannot reach platd at {self.api}: {_reason(e)}",
            hint=[
                "is the daemon running? start it with: platd serve",
                "check the address: plat whoami shows which API is used (PLAT_API overrides it)",
            ],
        )

    # Convenience for routes scoped to an env.
    def env_path(self, target: str, rest: str = "") -> str:
        parts = [_quote_text(p, "target") for p in target.split("/")]
        return "/v1/envs/" + "/".join(parts) + rest

    def item_path(self, target: str, collection: str, name: str, what: str) -> str:
        """``/v1/envs/TARGET/COLLECTION/NAME``, with NAME one path segment whatever it holds
        (an empty one would name the collection itself: ``describe instance ''``)."""
        return self.env_path(target, f"/{collection}/{segment(name, what)}")

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _open_socket(address: tuple[str, int], *args: Any) -> socket.socket:
    """``socket.create_connection``, with an ASCII host name given as bytes: such a name needs
    no IDNA encoding, and applying it would import the codec (~2 ms of every command)."""
    host, port = address
    name: Any = host.encode() if host.isascii() else host  # getaddrinfo takes bytes too
    return socket.create_connection((name, port), *args)


def _reason(e: BaseException) -> str:
    """What went wrong, in a few words (``http.client``'s exceptions say it in their type)."""
    if isinstance(e, http.client.IncompleteRead):
        got = len(e.partial)
        if e.expected is None:
            return f"the answer ended after {got} bytes, inside its chunked body"
        return f"the answer ended after {got} of {got + e.expected} bytes"
    if isinstance(e, http.client.RemoteDisconnected):
        return "the daemon closed the connection without answering"
    if isinstance(e, http.client.BadStatusLine | http.client.UnknownProtocol):
        line = str(e.args[0]) if e.args else ""
        return f"not an HTTP response: {line[:80]!r}"
    if isinstance(e, http.client.LineTooLong):
        return f"an answer's {e.args[0] if e.args else 'line'} is too long"
    if isinstance(e, http.client.HTTPException | ValueError):
        return f"an answer that is not valid HTTP ({type(e).__name__}: {e})"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def segment(name: str, what: str) -> str:
    """``name`` as one URL path segment; an empty or blank name is refused, naming ``what``."""
    if not name.strip():
        raise InvalidInput(f"the {what} must not be empty",
                           hint=f"pass the {what}; list them with plat status or plat --help")
    if name in (".", ".."):  # a dot segment would be resolved away, naming another route
        return name.replace(".", "%2E")
    return _quote_text(name, what)


def _quote_text(text: str, what: str) -> str:
    """``quote``, refusing text that holds bytes a terminal passed undecoded (not UTF-8)."""
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:
        raise _not_text(what) from None


def _not_text(what: str) -> InvalidInput:
    return InvalidInput(f"the {what} given is not UTF-8 text",
                        hint="names and values plat sends are UTF-8; check the terminal's "
                        "encoding (locale) and retype it")
