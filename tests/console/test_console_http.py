"""The console's HTTP and websocket rules on a real platd (fake runtime), without a browser: who
gets a page, a ticket, a websocket; what the headers promise; and that a person losing access
loses their console session at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from daemon_support import start_real_daemon, stop_daemon
from people_support import PASSWORD, Visitor, make_user, user_token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from platd.console.sessions import MAX_UPLOAD


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    daemon = start_real_daemon(tmp_path_factory.mktemp("console-http"))
    try:
        daemon.make_env("acme/shop/hello/prod")
        make_user(daemon, "acme", "alice", "owner")
        make_user(daemon, "acme", "carol", "viewer")
        yield daemon
    finally:
        stop_daemon(daemon)


class Browser(Visitor):
    """A signed-in console page, as its script talks to platd."""

    def sign_in(self, name: str, password: str = PASSWORD, **form: str) -> httpx.Response:
        page = self.get("/console")
        return self.post("/console/signin", {"name": name, "password": password, **form},
                         page=page.text)

    def csrf(self) -> str:
        page = self.get("/console")
        match = re.search(r'name=csrf content="([^"]+)"', page.text)
        return match.group(1) if match else "none: not signed in"

    def call(self, path: str, body: bytes = b"", **headers: str) -> httpx.Response:
        base = {"Origin": self.base, "X-CSRF-Token": self.csrf()}
        return self._keep(self.http.post(path, content=body,
                                         headers={**self._cookie(), **base, **headers}))

    def ticket(self) -> str:
        r = self.call("/console/ticket")
        assert r.status_code == 200, r.text
        return str(r.json()["ticket"])

    def ws(self, ticket: str, origin: str | None = None) -> Any:
        url = self.base.replace("http://", "ws://") + f"/console/ws?ticket={ticket}"
        return connect(url, additional_headers={"Origin": origin or self.base},
                       open_timeout=10)


@pytest.fixture
def alice(d: Any) -> Iterator[Browser]:
    b = Browser(d.url)
    r = b.sign_in("alice")
    assert r.status_code == 303, r.text
    yield b
    b.close()


def test_the_page_asks_to_sign_in_first_with_no_script(d: Any) -> None:
    b = Browser(d.url)
    try:
        page = b.get("/console")
        assert page.status_code == 200
        assert "Sign in to the plat console" in page.text
        assert "<script" not in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert b.call("/console/ticket").status_code == 401  # not signed in
        wrong = b.sign_in("alice", PASSWORD + "!")
        assert wrong.status_code == 401
        assert "Wrong user name or password" in wrong.text
    finally:
        b.close()


def test_the_signed_in_page_has_a_strict_policy_and_a_safe_cookie(d: Any) -> None:
    b = Browser(d.url)
    try:
        r = b.sign_in("alice")
        cookie = r.headers["set-cookie"]
        assert all(part in cookie for part in ("HttpOnly", "SameSite=lax", "Secure"))
        page = b.get("/console")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self' 'wasm-unsafe-eval'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert '<script type=module src=/console/static/console.js>' in page.text
        assert b.get("/console/static/console.js").status_code == 200
        assert b.get("/console/static/vendor/ghostty-web.js").status_code == 200
        for path in ("../page.py", "..%2Fpage.py", "index.html", "vendor/LICENSE"):
            assert b.get(f"/console/static/{path}").status_code == 404, path
    finally:
        b.close()


def test_a_token_signs_in_only_as_a_person(d: Any) -> None:
    b = Browser(d.url)
    try:
        assert b.sign_in("", "", token=d.token).status_code == 401  # the admin's: nobody
        assert b.sign_in("", "", token="plat_made_up").status_code == 401
        assert b.sign_in("", "", token=user_token(d, "alice")).status_code == 303
        assert "signed in as <b id=user>alice</b>" in b.get("/console").text
    finally:
        b.close()


def test_a_ticket_needs_the_csrf_token_and_this_origin(alice: Browser) -> None:
    assert alice.call("/console/ticket", **{"X-CSRF-Token": "forged"}).status_code == 401
    assert alice.call("/console/ticket", Origin="http://evil.example").status_code == 401
    assert alice.call("/console/ticket").status_code == 200


def test_the_websocket_takes_a_fresh_ticket_once_from_this_origin(alice: Browser) -> None:
    with pytest.raises(InvalidStatus) as e:
        alice.ws("made-up").recv(timeout=5)
    assert e.value.response.status_code == 401
    ticket = alice.ticket()
    with pytest.raises(InvalidStatus) as e:
        alice.ws(ticket, origin="http://evil.example").recv(timeout=5)
    assert e.value.response.status_code == 403
    ticket = alice.ticket()
    with alice.ws(ticket) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "hello"
        ws.send(json.dumps({"type": "run", "line": "orgs list"}))
        seen = [json.loads(ws.recv(timeout=30)) for _ in range(3)]
        assert [m["type"] for m in seen] == ["block", "out", "end"]
        assert "acme" in seen[1]["text"]
        assert seen[2]["code"] == 0
    with pytest.raises(InvalidStatus) as e:  # used
        alice.ws(ticket).recv(timeout=5)
    assert e.value.response.status_code == 401


def test_uploads_are_bounded_and_checked(alice: Browser) -> None:
    r = alice.call("/console/files?name=plat.toml", b'app = "hello"\n')
    assert r.status_code == 200
    assert r.json()["files"] == ["plat.toml"]
    r = alice.call("/console/files?name=../x.toml", b"x")
    assert r.status_code == 422
    assert "not a file name" in r.json()["error"]["message"]
    r = alice.call("/console/files?name=big.toml", b"x" * (MAX_UPLOAD + 2))
    assert r.status_code in (413, 422), r.text
    assert "too large" in r.json()["error"]["message"]
    r = alice.call("/console/files?name=plat.toml", b"x",
                   **{"X-CSRF-Token": "forged"})
    assert r.status_code == 401


def test_losing_membership_ends_the_console_session_at_once(d: Any) -> None:
    carol = Browser(d.url)
    try:
        assert carol.sign_in("carol").status_code == 303
        with carol.ws(carol.ticket()) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            r = d.plat("members", "remove", "carol", "--org", "acme")
            assert r.code == 0, r.err
            assert json.loads(ws.recv(timeout=10))["type"] == "ended"
        assert carol.call("/console/ticket").status_code == 401  # signed out too
    finally:
        carol.close()


def _ends_on(d: Any, person: Browser, change: Any) -> None:
    """An open console websocket of ``person`` ends as soon as ``change`` commits, and their
    browser session with it."""
    with person.ws(person.ticket()) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        change()
        assert json.loads(ws.recv(timeout=10))["type"] == "ended"
    assert person.call("/console/ticket").status_code == 401


def test_a_lowered_role_ends_the_console_session_at_once(d: Any) -> None:
    make_user(d, "acme", "dave", "deployer")
    dave = Browser(d.url)
    try:
        assert dave.sign_in("dave").status_code == 303

        def lower() -> None:
            r = d.plat("members", "set-role", "dave", "viewer", "--org", "acme")
            assert r.code == 0, r.err

        _ends_on(d, dave, lower)
    finally:
        dave.close()


def test_revoking_the_token_a_person_signed_in_with_ends_the_console_session(d: Any) -> None:
    make_user(d, "acme", "erin", "deployer")
    token = user_token(d, "erin")
    status, me = d.api("GET", "/v1/whoami", token=token)
    assert status == 200, me
    erin = Browser(d.url)
    try:
        assert erin.sign_in("", "", token=token).status_code == 303

        def revoke() -> None:
            r = d.plat("tokens", "revoke", me["token_id"], "--yes")
            assert r.code == 0, r.err

        _ends_on(d, erin, revoke)
    finally:
        erin.close()


def test_the_websocket_takes_keys_as_binary_and_never_deflates(alice: Browser) -> None:
    # The client offers permessage-deflate (websockets does by default): the console's
    # websocket declines it, every message being a keystroke or a few lines.
    with alice.ws(alice.ticket()) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(b"keys with no exec session: nothing to type them into")
        ws.send(b"x" * 9000)  # bigger than a message from the page may be: dropped
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
