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

from tui.lazy_modules import defer_unused

# Modules http.client (through email and socket) imports at its top that a request over
# http:// never uses are imported on first use instead: a fifth of what a read command spends
# before its first byte is sent (tui.lazy_modules says which is for what).
defer_unused()

import contextlib
import http.client
import json
import socket
from urllib.parse import urlsplit

from platd.spec.errors import DaemonUnreachable, InvalidInput, PlatError, from_wire
from tui.api_paths import env_path, item_path, with_query
from tui.early_get import DEFAULT_TIMEOUT, open_socket

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from tui.early_get import Sent

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
        self._early: Sent | None = None

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
            setattr(conn, "_create_connection", open_socket)  # noqa: B010 - http.client's hook
            self._conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def close(self) -> None:
        if self._early is not None:
            self._early.close()
            self._early = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def adopt(self, early: Sent) -> None:
        """A GET sent before this client was built (``tui.early_get``): the request for the
        same path reads its answer instead of sending it again."""
        if self._early is not None:
            self._early.close()
        self._early = early

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
        path = with_query(path, query)
        extra_headers = bool(headers)
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
        early, self._early = self._early, None
        if early is not None and (method != "GET" or payload is not None or early.path != path
                                  or extra_headers):
            early.close()  # sent for another request than this one
            early = None
        answered = self._read_early(early, timeout or self.timeout) if early else None
        if answered is not None:
            status, data = answered
        for attempt in (1, 2) if answered is None else ():
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

    def _read_early(self, early: Sent, timeout: float) -> tuple[int, bytes] | None:
        """The answer to a GET sent early, read by ``http.client`` (None: none came whole; the
        GET changed nothing, so it is sent again the ordinary way). Its connection is kept for
        the next request when the daemon keeps it open."""
        # (abort() cannot end this read; the TUI, which aborts, never sends early: its
        # commands run with a client built beforehand.)
        if self._aborted:
            early.close()
            raise DaemonUnreachable("the client was closed", hint=[])
        if early.sock is None:  # the connection could not be made: said, not tried again
            raise self._unreachable(early.error or OSError("no connection")) from early.error
        response = None
        try:
            early.sock.settimeout(timeout)
            response = http.client.HTTPResponse(early.sock, method="GET")
            response.begin()
            status, data = response.status, response.read()
        except TimeoutError as e:  # as on the ordinary way: a daemon that is slow is said so
            if response is not None:
                response.close()
            early.close()
            raise self._unreachable(e) from e
        except (OSError, http.client.HTTPException, ValueError):
            if response is not None:
                response.close()
            early.close()
            return None
        if response.will_close:
            early.close()
        else:
            conn = self._connection(timeout)
            if conn.sock is not None:
                conn.close()
            conn.sock = early.sock
        return status, data

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
        return env_path(target, rest)

    def item_path(self, target: str, collection: str, name: str, what: str) -> str:
        return item_path(target, collection, name, what)

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


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
