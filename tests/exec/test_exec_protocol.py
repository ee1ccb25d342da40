"""The exec protocol, the argument rules and the refusals, against a platd on the fake runtime
(in this process, on a loopback port: the websocket is real).

The fake runtime's process echoes stdin until it closes, prints its command line without stdin,
and exits with N when its last argument is ``exit N`` (``platd.runtime.fake.FakeExec``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from exec_support import MANIFEST, TARGET, exec_events, instances
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from platd.api import exec as server
from tests.conftest import Daemon, free_port
from tests.daemon_support import start_daemon, stop_daemon
from tui import exec_session as client
from tui.cli.commands.exec import _split
from tui.cli.main import build_parser


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("exec-fake")
    daemon = start_daemon(tmp)
    try:
        daemon.make_env(TARGET)
        assert daemon.plat("use", TARGET).code == 0
        (tmp / "plat.toml").write_text(MANIFEST)
        r = daemon.plat("deploy", "-f", str(tmp / "plat.toml"))
        assert r.code == 0, r.err
        yield daemon
    finally:
        stop_daemon(daemon)


def session(d: Daemon, token: str | None = None) -> Any:
    url = client.exec_url(d.url, TARGET)
    headers = {"Authorization": f"Bearer {token if token is not None else d.token}"}
    return connect(url, additional_headers=headers, proxy=None, open_timeout=10)


def start(ws: Any, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "start", **fields}))
    reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return reply


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "workload", "cmd", "interactive", "tty"), [
    (["web"], "web", [], False, False),
    (["web", "--", "ls", "-l"], "web", ["ls", "-l"], False, False),
    (["web", "-i", "--", "cat"], "web", ["cat"], True, False),
    (["-it", "web"], "web", [], True, True),
    (["--instance", "abc", "--", "ls", "-l"], None, ["ls", "-l"], False, False),
    (["-i", "--", "cat", "-n"], None, ["cat", "-n"], True, False),
    (["web", "--target", "a/b/c/d", "-t", "--", "--json"], "web", ["--json"], False, True),
    ([], None, [], False, False),
])
def test_workload_options_and_command_split_at_the_double_dash(
    argv: list[str], workload: str | None, cmd: list[str], interactive: bool, tty: bool,
) -> None:
    args = build_parser().parse_args(["exec", *argv])
    assert _split(args) == (workload, cmd)
    assert (args.interactive, args.tty) == (interactive, tty)


def test_a_command_without_the_double_dash_is_refused_with_the_fix(d: Daemon) -> None:
    r = d.plat("exec", "box", "ls", "-l")
    assert r.code == 2
    assert "did you mean: plat exec box -- ls -l" in r.err


def test_client_and_server_agree_on_the_framing() -> None:
    assert (client.STDIN, client.STDOUT, client.STDERR) == (server.STDIN, server.STDOUT,
                                                            server.STDERR)
    assert client.exec_url("http://127.0.0.1:7400", "a/b c/d/e") == (
        "ws://127.0.0.1:7400/v1/envs/a/b%20c/d/e/exec")
    assert client.exec_url("https://h.example/plat/", "a/b/c/d") == (
        "wss://h.example/plat/v1/envs/a/b/c/d/exec")


def test_the_session_connects_where_the_api_address_says() -> None:
    # ASCII names go to the resolver as bytes (no idna codec import); any other name as text.
    assert client.socket_address("ws://127.0.0.1:7400/v1/x") == (b"127.0.0.1", 7400)
    assert client.socket_address("ws://[::1]:7400/v1/x") == (b"::1", 7400)
    assert client.socket_address("wss://Plat.Example/v1/x") == (b"plat.example", 443)
    assert client.socket_address("ws://plat.example/v1/x") == (b"plat.example", 80)
    assert client.socket_address("ws://bücher.example:7400/") == ("bücher.example", 7400)


# --- plat instances ---------------------------------------------------------------------------


def test_instances_lists_them_for_people_and_scripts(d: Daemon) -> None:
    listed = instances(d)
    assert sorted(i["workload"] for i in listed) == ["box", "web", "web"]
    for i in listed:
        assert {"id", "release", "state", "health", "age_seconds", "host"} <= set(i)
    assert [i["id"] for i in instances(d, "web")] == [i["id"] for i in listed
                                                      if i["workload"] == "web"]
    r = d.plat("instances", "web")
    assert r.out.splitlines()[0].split() == ["INSTANCE", "WORKLOAD", "RELEASE", "STATE",
                                             "HEALTH", "AGE", "HOST"]
    r = d.plat("instances", "nope")
    assert r.code == 4
    assert "no instances of workload 'nope'" in r.err


# --- sessions through the real CLI ------------------------------------------------------------


def test_pipe_mode_and_exit_code_through_the_cli(d: Daemon) -> None:
    r = d.plat("exec", "box", "-i", "--", "cat", input="one\ntwo\n")
    assert (r.code, r.out) == (0, "one\ntwo\n")
    r = d.plat("exec", "box", "--", "sh", "-c", "exit 7")
    assert (r.code, r.out) == (7, "sh -c exit 7\n")


def test_refusals_say_what_is_wrong(d: Daemon) -> None:
    r = d.plat("exec", "box", "--instance", "zzz", "--", "true")
    assert r.code == 4
    assert "no instance 'zzz'" in r.err
    assert "plat exec box --instance" in r.err

    r = d.plat("exec", "web", "--instance", instances(d, "box")[0]["id"], "--", "true")
    assert r.code == 2
    assert "belongs to workload box, not web" in r.err

    r = d.plat("exec", "box", "--", "true", token="plat_not-a-token")
    assert r.code == 3

    r = d.plat("tokens", "create", "--org", "acme", "--role", "viewer", "--json")
    viewer = r.json()["token"]
    r = d.plat("exec", "box", "--instance", instances(d, "box")[0]["id"], "--", "true",
               token=viewer)
    assert r.code == 3
    assert "this needs deployer" in r.err

    r = d.plat("exec", "box", "--", "true", PLAT_API=f"http://127.0.0.1:{free_port()}")
    assert r.code == 10


@pytest.mark.parametrize("token", ["plat_not-a-token", ""])
def test_the_upgrade_is_refused_before_it_is_accepted_without_a_valid_token(
    d: Daemon, token: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        session(d, token=token).close()
    response = refused.value.response
    assert response.status_code == 401  # never 101: no socket is open for an unknown caller
    error = json.loads(bytes(response.body or b""))["error"]
    assert error["code"] == "unauthenticated"
    assert not token or token not in json.dumps(error), "the token is never echoed"


# --- the protocol itself ----------------------------------------------------------------------


def test_the_first_message_must_be_a_start_message(d: Daemon) -> None:
    with session(d) as ws:
        ws.send("hello")
        reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "invalid_input"


def test_frames_controls_and_the_exit_message(d: Daemon) -> None:
    box = instances(d, "box")[0]
    with session(d) as ws:
        started = start(ws, instance=box["id"], cmd=["cat"], stdin=True, tty=True, rows=24,
                        cols=80)
        assert started["type"] == "started"
        assert started["instance"]["id"] == box["id"]
        assert started["instance"]["release"] == "v1"
        ws.send(b"\x00" + bytes(range(256)))
        assert ws.recv(timeout=10) == b"\x01" + bytes(range(256))
        ws.send(json.dumps({"type": "resize", "rows": 50, "cols": 132}))
        ws.send(json.dumps({"type": "future-control"}))  # ignored, for newer clients
        ws.send(json.dumps({"type": "signal", "signal": "INT"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "exit", "code": 130}


def test_without_an_instance_platd_uses_the_only_one_or_refuses_to_choose(d: Daemon) -> None:
    with session(d) as ws:
        started = start(ws, workload="box", cmd=["true"])
    assert started["instance"]["id"] == instances(d, "box")[0]["id"]
    with session(d) as ws:
        refused = start(ws, workload="web", cmd=["true"])
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "invalid_input"
    offered = [i["id"] for i in refused["error"]["details"]["instances"]]
    assert offered == [i["id"] for i in instances(d, "web")]
    with session(d) as ws:  # the whole env has three
        assert "env acme/shop/tools/prod has 3 running" in start(ws, cmd=["true"])["error"][
            "message"]


def test_a_client_that_vanishes_still_leaves_an_audit_event(d: Daemon) -> None:
    seen = len(exec_events(d))
    box = instances(d, "box")[0]["id"]
    with session(d) as ws:
        assert start(ws, instance=box, cmd=["cat"], stdin=True)["type"] == "started"
    for _ in range(100):
        events = exec_events(d)[seen:]
        if len(events) == 2:
            break
        time.sleep(0.1)
    assert "no exit code (the client disconnected)" in events[1]["message"]


# --- sessions started over HTTP, attached by the websocket ------------------------------------


def open_early(d: Daemon, token: str | None = None, **fields: Any) -> tuple[int, Any]:
    return d.api("POST", f"/v1/envs/{TARGET}/exec/sessions", fields, token=token)


def attach(d: Daemon, session_id: str, token: str | None = None) -> Any:
    url = client.exec_url(d.url, TARGET, session_id)
    headers = {"Authorization": f"Bearer {token if token is not None else d.token}"}
    return connect(url, additional_headers=headers, proxy=None, open_timeout=10)


def test_a_session_started_over_http_is_attached_once_by_the_token_that_opened_it(
    d: Daemon,
) -> None:
    box = instances(d, "box")[0]
    status, answer = open_early(d, workload="box", cmd=["echo", "early"])
    assert status == 201, answer
    session_id = answer["session"]
    r = d.plat("tokens", "create", "--org", "acme", "--role", "deployer", "--json")
    other = r.json()["token"]
    with pytest.raises(InvalidStatus) as refused:  # another caller cannot take it over
        attach(d, session_id, token=other).close()
    assert refused.value.response.status_code == 404
    with attach(d, session_id) as ws:
        started = json.loads(ws.recv(timeout=10))  # no start message: it runs already
        assert started["type"] == "started"
        assert started["instance"]["id"] == box["id"]
        assert started["cmd"] == ["echo", "early"]
        assert ws.recv(timeout=10) == b"\x01echo early\n"
        assert json.loads(ws.recv(timeout=10)) == {"type": "exit", "code": 0}
    with pytest.raises(InvalidStatus) as again:  # attached once
        attach(d, session_id).close()
    error = json.loads(bytes(again.value.response.body or b""))["error"]
    assert again.value.response.status_code == 404
    assert "attached once" in error["message"]
    assert session_id not in json.dumps(error)


def test_a_session_started_over_http_is_refused_as_a_websocket_start_would_be(d: Daemon) -> None:
    status, answer = open_early(d, workload="web", cmd=["true"])
    assert status == 422
    assert answer["error"]["code"] == "invalid_input"
    assert [i["id"] for i in answer["error"]["details"]["instances"]] == [
        i["id"] for i in instances(d, "web")]
    status, answer = open_early(d, workload="box", cmd=["true"], rows=10**6)
    assert status == 422
    status, answer = open_early(d, workload="box", cmd=["true"], token="plat_not-a-token")
    assert status == 401
    status, answer = open_early(d, workload="box", typo=True)
    assert status == 422  # unknown fields are refused, as in the start message
    r = d.plat("tokens", "create", "--org", "acme", "--role", "viewer", "--json")
    status, answer = open_early(d, token=r.json()["token"], workload="box", cmd=["true"])
    assert status == 403
    assert "this needs deployer" in answer["error"]["message"]


def test_a_session_is_attached_only_in_the_env_it_was_opened_in(d: Daemon) -> None:
    d.make_env("acme/shop/tools/staging")
    status, answer = open_early(d, workload="box", cmd=["true"])
    assert status == 201
    url = client.exec_url(d.url, "acme/shop/tools/staging", answer["session"])
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": f"Bearer {d.token}"}, proxy=None,
                open_timeout=10).close()
    assert refused.value.response.status_code == 404
    with attach(d, answer["session"]) as ws:  # the wrong try took nothing
        assert json.loads(ws.recv(timeout=10))["type"] == "started"


def test_a_client_that_gives_up_before_attaching_hangs_the_process_up(d: Daemon) -> None:
    seen = len(exec_events(d))
    status, answer = open_early(d, workload="box", cmd=["cat"], stdin=True)
    assert status == 201
    path = f"/v1/envs/{TARGET}/exec/sessions/{answer['session']}"
    r = d.plat("tokens", "create", "--org", "acme", "--role", "deployer", "--json")
    assert d.api("DELETE", path, token=r.json()["token"])[0] == 404  # not another token's
    assert d.api("DELETE", path)[0] == 204
    assert d.api("DELETE", path)[0] == 404  # once
    for _ in range(100):
        events = exec_events(d)[seen:]
        if len(events) == 2:
            break
        time.sleep(0.1)
    assert "no exit code (the client gave up before attaching)" in events[1]["message"]
    with pytest.raises(InvalidStatus):
        attach(d, answer["session"]).close()


def test_the_cli_starts_the_process_before_its_websocket_opens(d: Daemon) -> None:
    r = d.plat("exec", "box", "--json", "--", "sh", "-c", "exit 3")
    assert r.code == 3, r.err
    started = json.loads(r.err.splitlines()[0])
    assert started["type"] == "started"
    assert started["prestarted"] is True  # attached to the process the POST started
