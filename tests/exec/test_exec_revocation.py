"""An open exec session ends when its caller loses access: a revoked token, a member removed
from the org, a role lowered below deployer. The real plat in a pseudo-terminal, a real platd,
real containers; users and their tokens come from real invites and the real device flow.

The session must end by itself, with the words saying why, and the audit event must say so:
nothing the user does after the revocation keeps it open.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from exec_support import TARGET, Term, deploy, exec_events

from tests.conftest import PLAT, Daemon, _remove_containers
from tests.people.people_support import FAST, make_user, user_token

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ORG = TARGET.split("/")[0]


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory, docker_services: None) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("revoke")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    daemon.init()
    (daemon.data / "platd.toml").write_text(FAST)
    daemon.start()
    try:
        deploy(daemon, tmp)
        yield daemon
    finally:
        daemon.stop()
        _remove_containers(daemon.host_id)


def _shell(d: Daemon, token: str) -> Term:
    term = Term([PLAT, "exec", "box"], d.env(token))
    term.expect("# ")
    term.send("echo $((20+22))\r")
    term.expect("42")
    return term


def _ended(term: Term, d: Daemon) -> str:
    term.expect("lost access", timeout=10)
    assert term.wait() == 3, term.text
    # The closing event is written as the session ends; the client may be told first.
    deadline = time.monotonic() + 5
    while True:
        (last,) = exec_events(d)[-1:]
        if "access was revoked" in last["message"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "access was revoked" in last["message"], last
    return term.text


def test_revoking_the_token_ends_the_open_session(d: Daemon) -> None:
    r = d.plat("tokens", "create", "--org", ORG, "--role", "deployer", "--json")
    assert r.code == 0, r.err
    token = r.json()
    term = _shell(d, token["token"])
    try:
        assert d.plat("tokens", "revoke", token["id"], "--yes").code == 0
        text = _ended(term, d)
        assert "unknown or revoked" in text
    finally:
        term.close()


def test_removing_the_member_ends_their_session(d: Daemon) -> None:
    make_user(d, ORG, "remy", "deployer")
    term = _shell(d, user_token(d, "remy"))
    try:
        assert d.plat("members", "remove", "remy", "--org", ORG).code == 0
        _ended(term, d)
    finally:
        term.close()


def test_lowering_the_role_to_viewer_ends_their_session(d: Daemon) -> None:
    make_user(d, ORG, "vera", "deployer")
    term = _shell(d, user_token(d, "vera"))
    try:
        r = d.plat("members", "set-role", "vera", "viewer", "--org", ORG)
        assert r.code == 0, r.err
        text = _ended(term, d)
        assert "needs deployer" in text
    finally:
        term.close()


def test_a_session_of_someone_else_stays_open(d: Daemon) -> None:
    make_user(d, ORG, "stay", "deployer")
    make_user(d, ORG, "gone", "deployer")
    term = _shell(d, user_token(d, "stay"))
    try:
        assert d.plat("members", "remove", "gone", "--org", ORG).code == 0
        term.send("echo still-$((1+1))\r")
        term.expect("still-2")
        term.send("exit 0\r")
        assert term.wait() == 0
    finally:
        term.close()


def test_a_role_lowered_before_the_attach_refuses_it_and_hangs_the_process_up(d: Daemon) -> None:
    """plat exec starts the process over HTTP and attaches its websocket a moment later: the
    role is checked again then, and the process of a session refused there does not run on."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from tui.exec_session import exec_url

    make_user(d, ORG, "late", "deployer")
    token = user_token(d, "late")
    status, answer = d.api("POST", f"/v1/envs/{TARGET}/exec/sessions",
                           {"workload": "box", "cmd": ["cat"], "stdin": True}, token=token)
    assert status == 201, answer
    r = d.plat("members", "set-role", "late", "viewer", "--org", ORG)
    assert r.code == 0, r.err
    with pytest.raises(InvalidStatus) as refused:
        connect(exec_url(d.url, TARGET, answer["session"]), proxy=None, open_timeout=10,
                additional_headers={"Authorization": f"Bearer {token}"}).close()
    assert refused.value.response.status_code == 403
    deadline = time.monotonic() + 5
    while "refused when attaching" not in exec_events(d)[-1]["message"]:
        assert time.monotonic() < deadline, exec_events(d)[-1]
        time.sleep(0.1)
    assert "needs deployer" in exec_events(d)[-1]["message"]
