"""plat exec starts its process over HTTP first (``tui.exec_session._Opening``), and starts it on
the websocket instead when platd says so: an instance on another host of the cluster (relayed
there, ``{"session": null}``) or a platd older than the route ("no API route"). Against a small
HTTP stand-in on loopback that answers the POST as such a platd would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from platd.spec.errors import NotFound, PlatError
from tui.exec_session import SessionRequest, _Opening

ANSWERS: dict[str, tuple[int, Any]] = {
    "relayed": (201, {"session": None}),
    "started": (201, {"session": "abc123"}),
    "older": (404, {"error": {"code": "not_found", "message":
                              "no API route POST /v1/envs/a/b/c/d/exec/sessions", "hint": []}}),
    "no-env": (404, {"error": {"code": "not_found", "message": "no env 'd' in a/b/c",
                               "hint": []}}),
}


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            status, answer = ANSWERS[body["workload"]]
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def opening(api: str, workload: str) -> _Opening:
    request = SessionRequest(api=api, token="t", target="a/b/c/d", instance=None,
                             workload=workload, cmd=["true"], tty=False, stdin=False)
    return _Opening(request, {"workload": workload, "cmd": ["true"]})


def test_a_started_session_is_attached_by_its_id(stand_in: str) -> None:
    assert opening(stand_in, "started").session() == "abc123"


@pytest.mark.parametrize("workload", ["relayed", "older"])
def test_otherwise_the_session_starts_on_the_websocket(stand_in: str, workload: str) -> None:
    assert opening(stand_in, workload).session() is None


def test_a_refusal_is_the_users_error(stand_in: str) -> None:
    with pytest.raises(NotFound, match="no env 'd'"):
        opening(stand_in, "no-env").session()


def test_a_daemon_that_is_not_there_is_said_so() -> None:
    with pytest.raises(PlatError, match="cannot reach platd"):
        opening("http://127.0.0.1:9", "started").session()
