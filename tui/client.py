"""The HTTP client every front end uses: the CLI, the TUI and the web console.

Standard library only, and not even ``http.client`` (``http_wire.py`` says why): ``plat`` pays
for every import on every start.
Errors come back as the same ``PlatError`` classes the daemon raised, so a refusal has the same
message, hints and exit code whichever side found it.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from platd.spec.errors import DaemonUnreachable, InvalidInput, PlatError, from_wire
from tui.http_wire import Connection, ConnectionClosed

DEFAULT_TIMEOUT = 30.0


class Client:
    def __init__(self, api: str, token: str | None, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(api if "://" in api else f"http://{api}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"cannot use API address {api!r}",
                               hint="use a URL like http://127.0.0.1:7400")
        self.api = api
        self.token = token
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._conn: Connection | None = None
        self._aborted = False

    def _connection(self, timeout: float) -> Connection:
        if self._conn is None:
            self._conn = Connection(self._host, self._port, https=self._https, timeout=timeout)
        self._conn.settimeout(timeout)
        return self._conn

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
        timeout: float | None = None,
    ) -> Any:
        if query:
            clean = {k: v for k, v in query.items() if v is not None}
            if clean:
                path += "?" + urlencode(clean)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        if payload is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            if self._aborted:
                raise DaemonUnreachable("the client was closed", hint=[])
            conn = self._connection(timeout or self.timeout)
            try:
                response = conn.request(method, path, headers, payload)
                data = response.body
                break
            except ConnectionError as e:
                # A kept-alive connection the daemon closed: retry once on a fresh one.
                self.close()
                if attempt == 2 or not isinstance(
                    e, (ConnectionClosed, BrokenPipeError, ConnectionResetError)
                ):
                    raise self._unreachable(e) from e
            except OSError as e:  # socket.timeout is an OSError
                self.close()
                raise self._unreachable(e) from e
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if response.status >= 400:
            raise from_wire(decoded if isinstance(decoded, dict) else {}, response.status)
        return decoded

    def _unreachable(self, e: BaseException) -> PlatError:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        return DaemonUnreachable(
            f"cannot reach platd at {self.api}: {reason}",
            hint=[
                "is the daemon running? start it with: platd serve",
                "check the address: plat whoami shows which API is used (PLAT_API overrides it)",
            ],
        )

    # Convenience for routes scoped to an env.
    def env_path(self, target: str, rest: str = "") -> str:
        parts = [quote(p, safe="") for p in target.split("/")]
        return "/v1/envs/" + "/".join(parts) + rest

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
