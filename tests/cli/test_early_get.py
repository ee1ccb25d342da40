"""A read command's GET sent before the HTTP client is imported (tui/early_get.py), against a
real socket server on loopback: the bytes are the ones http.client sends, the answer is read
once and its connection kept, and whatever goes wrong goes the ordinary way."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from platd.spec.errors import DaemonUnreachable
from tests.cli.test_http_client import Handler, Server, json_answer
from tui import early_get
from tui.cli.transcript import TranscriptCtx
from tui.client import Client


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Server]]:
    servers: list[Server] = []

    def start(handler: Handler) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_the_request_is_the_one_http_client_sends(serve: Callable[[Handler], Server]) -> None:
    server = serve(json_answer())
    api = f"http://127.0.0.1:{server.port}"
    Client(api, "tok-1").get("/v1/envs/a/b/c/d/status", cluster=1)
    sent = early_get.send(api, "tok-1", "/v1/envs/a/b/c/d/status?cluster=1", 5.0)
    assert sent is not None
    client = Client(api, "tok-1")
    client.adopt(sent)
    client.get("/v1/envs/a/b/c/d/status", cluster=1)
    ordinary, early = server.requests
    assert early == ordinary


def test_an_early_answer_is_read_once_and_its_connection_kept(
        serve: Callable[[Handler], Server]) -> None:
    server = serve(json_answer(b'{"n": 1}'))
    api = f"http://127.0.0.1:{server.port}"
    client = Client(api, None)
    sent = early_get.send(api, None, "/v1/x", 5.0)
    assert sent is not None
    client.adopt(sent)
    assert client.get("/v1/x") == {"n": 1}
    assert client.post("/v1/y", {}) == {"n": 1}
    assert [r.split(b"\r\n")[0] for r in server.requests] == [
        b"GET /v1/x HTTP/1.1", b"POST /v1/y HTTP/1.1"]
    assert server.connections == 1


def test_an_early_get_for_another_request_is_dropped(serve: Callable[[Handler], Server]) -> None:
    server = serve(json_answer())
    api = f"http://127.0.0.1:{server.port}"
    client = Client(api, None)
    sent = early_get.send(api, None, "/v1/x?a=1", 5.0)
    assert sent is not None
    client.adopt(sent)
    assert client.get("/v1/x", a=2) == {"ok": True}
    assert server.requests[-1].startswith(b"GET /v1/x?a=2 HTTP/1.1\r\n")
    assert server.connections == 2


def test_an_early_get_without_an_answer_is_sent_again(serve: Callable[[Handler], Server]) -> None:
    answered = json_answer()
    calls = []

    def hang_up_first(conn: socket.socket, request: bytes) -> bool:
        calls.append(request)
        if len(calls) == 1:
            return False  # closed without answering (a daemon restarting)
        return answered(conn, request)

    server = serve(hang_up_first)
    api = f"http://127.0.0.1:{server.port}"
    client = Client(api, None)
    sent = early_get.send(api, None, "/v1/x", 5.0)
    assert sent is not None
    client.adopt(sent)
    assert client.get("/v1/x") == {"ok": True}
    assert len(server.requests) == 2


def test_a_silent_daemon_is_said_so_and_not_asked_twice(serve: Callable[[Handler], Server]) -> None:
    server = serve(lambda conn, request: True)
    api = f"http://127.0.0.1:{server.port}"
    client = Client(api, None, timeout=0.3)
    sent = early_get.send(api, None, "/v1/x", 0.3)
    assert sent is not None
    client.adopt(sent)
    with pytest.raises(DaemonUnreachable, match="cannot reach platd"):
        client.get("/v1/x")
    assert len(server.requests) == 1


@pytest.mark.parametrize("api", ["https://127.0.0.1:7400", "http://[::1]:7400",
                                 "http://héte:7400", "ftp://127.0.0.1:7400", "http://h:bad"])
def test_what_the_ordinary_way_must_handle_is_not_sent_early(api: str) -> None:
    assert early_get.send(api, None, "/v1/x", 1.0) is None


@pytest.mark.parametrize(("path", "token"), [("/v1/x", "tok\r\nX-Evil: 1"), ("/v1/x y", None),
                                             ("/v1/é", None), ("/v1/x", "tök")])
def test_what_http_client_would_refuse_or_encode_is_not_sent_early(
        serve: Callable[[Handler], Server], path: str, token: str | None) -> None:
    server = serve(json_answer())
    assert early_get.send(f"http://127.0.0.1:{server.port}", token, path, 1.0) is None
    assert server.requests == []


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_command_sends_its_get_before_the_client_is_built(
        serve: Callable[[Handler], Server]) -> None:
    server = serve(json_answer(b'{"n": 2}'))
    settings = SimpleNamespace(api=f"http://127.0.0.1:{server.port}", token="tok-9",
                               default_target=None, reconnect_timeout=None)
    ctx = TranscriptCtx(settings)  # type: ignore[arg-type]
    sent: list[str] = []
    original = early_get.send

    def spy(api: str, token: str | None, path: str, timeout: float) -> early_get.Sent | None:
        sent.append(path)
        return original(api, token, path, timeout)

    early_get.send, saved = spy, early_get.send
    try:
        assert ctx.get("/v1/x", a=1) == {"n": 2}
        assert ctx.get("/v1/y") == {"n": 2}  # the client is built now: the ordinary way
    finally:
        early_get.send = saved
    assert sent == ["/v1/x?a=1"]
    assert [r.split(b"\r\n")[0] for r in server.requests] == [
        b"GET /v1/x?a=1 HTTP/1.1", b"GET /v1/y HTTP/1.1"]
    assert server.connections == 1


def test_a_daemon_that_is_not_there_is_said_so_after_one_try(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[object] = []
    connect = socket.create_connection

    def counted(*args: object, **kw: object) -> socket.socket:
        tries.append(args)
        return connect(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", counted)
    settings = SimpleNamespace(api=f"http://127.0.0.1:{_dead_port()}", token=None,
                               default_target=None, reconnect_timeout=None)
    with pytest.raises(DaemonUnreachable, match=r"cannot reach platd.*refused"):
        TranscriptCtx(settings).get("/v1/x")  # type: ignore[arg-type]
    assert len(tries) == 1
