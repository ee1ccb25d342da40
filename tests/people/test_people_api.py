"""Users, members and the device flow over HTTP: invites, roles, the last owner, sign-in pages
with CSRF and CSP, the RFC 8628 token endpoint, wrong codes rate-limited.

A real daemon (fake runtime) on a loopback port; users come from real invites accepted on the
real pages, tokens from the real device flow (``people_support``).
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from daemon_support import Hosts, make_env, start_daemon, stop_daemon
from people_support import (
    FAST,
    PASSWORD,
    Visitor,
    accept,
    decide,
    invite,
    make_user,
    poll,
    start_login,
    user_token,
)

from platd.clock import ManualClock
from tests.conftest import PLATD


def _org(d: Any) -> str:
    return make_env(d).split("/")[0]


def test_invite_makes_a_member_once_and_is_stored_only_hashed(d: Any) -> None:
    org = _org(d)
    code = invite(d, org, "ada", "deployer")
    r = accept(d, code)
    assert r.status_code == 200, r.text
    assert "signed in as ada" in r.text
    v = Visitor(d.url)
    again = v.get(f"/invite?code={code}")
    assert again.status_code == 404
    assert "not valid" in again.text
    v.close()
    status, body = d.api("GET", f"/v1/orgs/{org}/members")
    assert status == 200, body
    assert [(m["name"], m["role"]) for m in body["members"]] == [("ada", "deployer")]
    raw = b"".join(p.read_bytes() for p in d.data.glob("state.db*"))
    assert code.encode() not in raw
    assert PASSWORD.encode() not in raw
    with sqlite3.connect(d.data / "state.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE name='ada'").fetchone()
    assert stored.startswith("$argon2id$")


def test_an_invite_for_an_existing_user_needs_their_password(d: Any) -> None:
    org, other = _org(d), _org(d)
    make_user(d, org, "grace", "viewer")
    code = invite(d, other, "grace", "owner")
    wrong = accept(d, code, password="not her password")
    assert wrong.status_code == 400
    assert "wrong password" in wrong.text
    assert accept(d, code).status_code == 200
    token = user_token(d, "grace")
    status, me = d.api("GET", "/v1/whoami", token=token)
    assert status == 200, me
    assert me["user"] == "grace"
    assert sorted((o["org"], o["role"]) for o in me["orgs"]) == sorted(
        [(org, "viewer"), (other, "owner")])
    assert me["expires_at"] is not None


def test_roles_apply_at_once_and_the_last_owner_stays(d: Any) -> None:
    target = make_env(d)
    org = target.split("/")[0]
    make_user(d, org, "olga", "owner")
    make_user(d, org, "vic", "viewer")
    olga, vic = user_token(d, "olga"), user_token(d, "vic")
    scale = ("POST", f"/v1/envs/{target}/scale", {"workload": "web", "count": 1})
    status, body = d.api(*scale, token=vic)
    assert status == 403, body
    assert "plat members set-role vic deployer" in " ".join(body["error"]["hint"])
    # the viewer cannot invite or change roles; the owner can
    status, _ = d.api("POST", f"/v1/orgs/{org}/invites", {"name": "x", "role": "owner"},
                      token=vic)
    assert status == 403
    status, body = d.api("PATCH", f"/v1/orgs/{org}/members/vic", {"role": "deployer"},
                         token=olga)
    assert status == 200, body
    assert body["previous_role"] == "viewer"
    status, me = d.api("GET", "/v1/whoami", token=vic)
    assert me["orgs"] == [{"org": org, "role": "deployer"}]
    # the last owner can be neither demoted nor removed, even by themselves
    for method, body in (("PATCH", {"role": "viewer"}), ("DELETE", None)):
        status, reply = d.api(method, f"/v1/orgs/{org}/members/olga", body, token=olga)
        assert status == 409, reply
        assert "last owner" in reply["error"]["message"]
    status, _ = d.api("PATCH", f"/v1/orgs/{org}/members/vic", {"role": "owner"}, token=olga)
    assert status == 200
    status, _ = d.api("DELETE", f"/v1/orgs/{org}/members/olga", token=olga)
    assert status == 200
    # removed: her token no longer sees the org at all
    status, body = d.api("GET", f"/v1/orgs/{org}/members", token=olga)
    assert status == 404, body


@pytest.fixture(scope="module")
def still(tmp_path_factory: Any) -> Iterator[tuple[Any, ManualClock]]:
    """A daemon whose clock moves only when the test says: "two polls at once" and "a poll
    after the interval" mean what they say however loaded the machine is (on the wall clock a
    second poll sent at once can arrive after a short interval, and no slow_down comes)."""
    clock = ManualClock(time.time())
    hosts = Hosts(tmp_path_factory.mktemp("still"))
    daemon = hosts.add(socket.gethostname(), http=True, ingress="host", settings=FAST,
                       clock=clock)
    try:
        yield daemon, clock
    finally:
        hosts.close()


def test_device_flow_mints_a_named_expiring_token_the_user_sees(
        still: tuple[Any, ManualClock]) -> None:
    d, clock = still
    org = _org(d)
    make_user(d, org, "dora", "deployer")
    login = start_login(d, client="plat on laptop-7")
    assert login["verification_uri"] == f"{d.url}/device"
    assert login["verification_uri_complete"] == (
        f"{d.url}/device?user_code={login['user_code']}")
    status, body = poll(d, login["device_code"])
    assert (status, body["error"]) == (400, "authorization_pending")
    status, body = poll(d, login["device_code"])  # again at once: too fast
    assert (status, body["error"]) == (400, "slow_down")
    assert body["interval"] > login["interval"]
    clock.advance(body["interval"] - 0.01)  # still too fast for the raised interval
    status, body = poll(d, login["device_code"])
    assert (status, body["error"]) == (400, "slow_down")
    v = Visitor(d.url)
    page = v.get(f"/device?user_code={login['user_code']}")
    approval = v.post("/device/signin", {"name": "dora", "password": PASSWORD,
                                         "user_code": login["user_code"]}, page=page.text)
    assert approval.status_code == 200
    for shown in ("plat on laptop-7", "127.0.0.1", login["user_code"], "Approve", "Deny"):
        assert shown in approval.text
    r = v.post("/device/decision", {"user_code": login["user_code"], "decision": "approve"},
               page=approval.text)
    assert "Login approved" in r.text
    v.close()
    clock.advance(body["interval"])  # a poll that waited as told
    status, token = poll(d, login["device_code"])
    assert status == 200, token
    assert token["token_type"] == "Bearer"
    status, rows = d.api("GET", "/v1/tokens", token=token["access_token"])
    assert status == 200, rows
    mine = [t for t in rows if t["id"] == token["token_id"]]
    assert mine
    assert mine[0]["name"] == "plat on laptop-7"
    assert mine[0]["user"] == "dora"
    assert mine[0]["expires_at"] == pytest.approx(clock.time() + 30 * 24 * 3600, abs=1)
    # the grant is used up
    clock.advance(body["interval"])
    status, body = poll(d, login["device_code"])
    assert body["error"] == "invalid_grant"


def test_deny_ends_the_login(d: Any) -> None:
    org = _org(d)
    make_user(d, org, "dan", "viewer")
    login = start_login(d)
    r = decide(d, login["user_code"], "dan", approve=False)
    assert "Login denied" in r.text
    # the first poll of a login is never too fast: no waiting needed
    status, body = poll(d, login["device_code"])
    assert (status, body["error"]) == (400, "access_denied")


def test_pages_refuse_forms_without_their_csrf_token_or_from_elsewhere(d: Any) -> None:
    org = _org(d)
    make_user(d, org, "cora", "owner")
    login = start_login(d)
    v = Visitor(d.url)
    page = v.get(f"/device?user_code={login['user_code']}")
    headers = page.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    cookie = headers["set-cookie"].lower()
    for flag in ("httponly", "samesite=lax", "secure", "path=/"):
        assert flag in cookie, cookie
    assert "<script" not in page.text
    form = {"name": "cora", "password": PASSWORD, "user_code": login["user_code"]}
    assert v.post("/device/signin", {**form, "csrf": "forged"}).status_code == 403
    assert v.post("/device/signin", form, page=page.text,
                  headers={"Origin": "http://evil.example"}).status_code == 403
    approval = v.post("/device/signin", form, page=page.text)
    assert approval.status_code == 200
    # a decision posted by another site's page (no token) approves nothing
    r = v.post("/device/decision", {"user_code": login["user_code"], "decision": "approve",
                                    "csrf": "forged"})
    assert r.status_code == 403
    _status, body = poll(d, login["device_code"])
    assert body["error"] == "authorization_pending"
    v.close()


def test_wrong_passwords_and_codes_are_rate_limited(tmp_path_factory: Any) -> None:
    d = start_daemon(tmp_path_factory.mktemp("limits"), settings=FAST)
    try:
        org = _org(d)
        make_user(d, org, "rita", "viewer")
        # signed in, guessing codes
        v = Visitor(d.url)
        page = v.get("/device")
        entry = v.post("/device/signin", {"name": "rita", "password": PASSWORD,
                                          "user_code": ""}, page=page.text)
        assert entry.status_code == 200, entry.text
        guesses = [v.post("/device", {"user_code": f"BBBB-BBB{c}"}, page=entry.text).status_code
                   for c in "BCDFGHJKLMN"]
        assert guesses[:10] == [400] * 10
        assert guesses[10] == 429
        # a real code is refused too while the address is blocked
        login = start_login(d)
        r = v.post("/device", {"user_code": login["user_code"]}, page=entry.text)
        assert r.status_code == 429
        assert "Too many" in r.text
        v.close()
        # guessing passwords
        v = Visitor(d.url)
        page = v.get("/device")
        statuses = [v.post("/device/signin", {"name": "rita", "password": f"wrong-{i}-password",
                                              "user_code": ""}, page=page.text).status_code
                    for i in range(11)]
        assert statuses[:10] == [401] * 10
        assert statuses[10] == 429
        r = v.post("/device/signin", {"name": "rita", "password": PASSWORD, "user_code": ""},
                   page=page.text)
        assert r.status_code == 429
        v.close()
    finally:
        stop_daemon(d)


def test_bad_input_to_the_token_endpoint_is_refused_clearly(d: Any) -> None:
    status, body = poll(d, "not-a-device-code")
    assert (status, body["error"]) == (400, "invalid_grant")
    r = httpx.post(f"{d.url}/v1/device/token", json={"device_code": "x", "grant_type": "pw"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    r = httpx.post(f"{d.url}/v1/device/code", json={"client": "x", "extra": 1})
    assert r.status_code == 422


@pytest.mark.parametrize("name", ["Bad Name", "", "x" * 60])
def test_invite_names_are_checked(d: Any, name: str) -> None:
    org = _org(d)
    status, body = d.api("POST", f"/v1/orgs/{org}/invites", {"name": name, "role": "viewer"})
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input"


def test_removing_a_member_ends_their_browser_session(d: Any) -> None:
    org = _org(d)
    make_user(d, org, "owen", "owner")
    make_user(d, org, "bea", "deployer")
    v = Visitor(d.url)
    page = v.get("/device")
    entry = v.post("/device/signin", {"name": "bea", "password": PASSWORD, "user_code": ""},
                   page=page.text)
    assert "Signed in as" in entry.text
    status, _ = d.api("DELETE", f"/v1/orgs/{org}/members/bea")
    assert status == 200
    login = start_login(d)
    # the approval form of the ended session no longer approves anything
    r = v.post("/device", {"user_code": login["user_code"]}, page=entry.text)
    assert r.status_code == 403
    status, body = poll(d, login["device_code"])
    assert body["error"] == "authorization_pending"
    v.close()


def accept_late(d: Any, code: str) -> Any:
    """Post an invite's form with a session got from another page (the invite's own page
    refuses to show)."""
    v = Visitor(d.url)
    try:
        page = v.get("/device")
        return v.post("/invite", {"code": code, "password": PASSWORD}, page=page.text)
    finally:
        v.close()


def test_an_invite_expires_unused(still: tuple[Any, ManualClock]) -> None:
    d, clock = still
    org = _org(d)
    status, body = d.api("POST", f"/v1/orgs/{org}/invites",
                         {"name": "late", "role": "viewer", "expires_seconds": 3600})
    assert status == 201, body
    assert body["expires_at"] == pytest.approx(clock.time() + 3600, abs=1)
    status, listed = d.api("GET", f"/v1/orgs/{org}/members")
    assert [i["name"] for i in listed["invites"]] == ["late"]
    v = Visitor(d.url)
    assert v.get(f"/invite?code={body['code']}").status_code == 200
    clock.advance(3600)
    r = v.get(f"/invite?code={body['code']}")
    v.close()
    assert r.status_code == 404
    assert "not valid" in r.text
    # nor can its form still be posted
    r = accept_late(d, body["code"])
    assert r.status_code == 404
    status, listed = d.api("GET", f"/v1/orgs/{org}/members")
    assert listed["invites"] == []
    assert listed["members"] == []


def test_platd_init_prints_the_one_time_setup_link(tmp_path: Any) -> None:
    """What a person reads after ``platd init``: the link (test_device_browser.py follows the
    one ``--json`` gives and shows it works once)."""
    out = subprocess.run([PLATD, "init", "--data", str(tmp_path / "data")], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "a one-time link, valid 24 hours" in out
    assert re.search(r"^    http://127\.0\.0\.1:\d+/setup\?code=[\w-]{20,}$", out, re.M), out
