"""The device flow end to end: the real ``plat login`` in one process, Chromium (driven by
Playwright) in the other, a real ``platd`` made by the real ``platd init``.

The setup link platd init prints makes the first admin; an invite made with ``plat members
invite`` makes a member; ``plat login`` shows a code; the member approves it on the page that
says which client asks, from where and when; the CLI gets its token, stores it and works.
Denying, letting the code expire and a poll answered with slow_down are each seen from the CLI.
"""

from __future__ import annotations

import http.server
import itertools
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import CHROMIUM, Login, chromium, init_daemon

from tests.conftest import Daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                       reason="needs Debian's chromium (scripts/setup installs it)"),
]

PASSWORD = "a long enough password"
SETTINGS = "device_poll_seconds = 0.5\ndevice_code_seconds = 120\n"
ORG = "acme"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[dict[str, Any]]:
    """A daemon with a first admin (made through the setup link) and alice, owner of acme
    (made through an invite link), whose browser stays signed in."""
    d, setup_url = init_daemon(tmp_path_factory.mktemp("browser"), SETTINGS)
    try:
        page = browser.new_context().new_page()
        page.goto(setup_url)
        assert page.title().startswith("Set up plat")
        page.fill("#name", "root")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        assert "signed in as root" in page.inner_text("#outcome")
        page.goto(setup_url)  # single use
        assert "not valid" in page.inner_text("#outcome")
        d.make_env(f"{ORG}/shop/hello/prod")
        r = d.plat("members", "invite", "alice", "--org", ORG, "--role", "owner", "--json")
        assert r.code == 0, r.err
        alice = browser.new_context()
        page = alice.new_page()
        page.goto(r.json()["url"])
        assert f"invited to org {ORG} as owner" in page.content()
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        assert "signed in as alice" in page.inner_text("#outcome")
        yield {"d": d, "alice": alice}
    finally:
        d.stop()


def _code(login: Login) -> tuple[str, str]:
    code = login.expect(r"enter the code ([A-Z]{4}-[A-Z]{4})").group(1)
    complete = login.expect(r"open directly: (\S+)").group(1)
    return code, complete


def test_login_approved_in_the_browser_gives_the_cli_a_working_token(world: dict) -> None:  # type: ignore[type-arg]
    d: Daemon = world["d"]
    login = Login(d)
    try:
        code, complete = _code(login)
        assert complete == f"{d.url}/device?user_code={code}"
        page = world["alice"].new_page()
        page.goto(complete)
        assert page.title().startswith("Approve this login?")
        assert page.inner_text("#client") == f"plat on {socket.gethostname()}"
        assert page.inner_text("#address") == "127.0.0.1"
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", page.inner_text("#when"))
        assert code in page.content()
        page.click("button[value=approve]")
        assert "is now signed in" in page.inner_text("#outcome")
        rc, out = login.finish()
        assert rc == 0, out
        assert "as user alice" in out
    finally:
        login.kill()
    # the stored token works, without PLAT_TOKEN
    r = d.plat("whoami", "--json", token="")
    assert r.code == 0, r.err
    me = r.json()
    assert me["user"] == "alice"
    assert me["orgs"] == [{"org": ORG, "role": "owner"}]
    assert me["expires_at"] > time.time() + 86400
    r = d.plat("whoami", token="")
    assert "acme (owner)" in r.out
    assert "expires" in r.out
    r = d.plat("tokens", "list", "--json", token="")
    assert r.code == 0, r.err
    (mine,) = [t for t in r.json() if t["user"] == "alice"]
    assert mine["name"] == f"plat on {socket.gethostname()}"  # the client and its host
    assert mine["expires_at"] == me["expires_at"]
    r = d.plat("tokens", "list", token="")
    assert f"plat on {socket.gethostname()}" in r.out
    assert d.plat("status", "--target", f"{ORG}/shop/hello/prod", token="").code == 0


def test_login_denied_in_the_browser_fails_the_cli(world: dict) -> None:  # type: ignore[type-arg]
    d: Daemon = world["d"]
    login = Login(d)
    try:
        _user_code, complete = _code(login)
        page = world["alice"].new_page()
        page.goto(complete)
        page.click("button[value=deny]")
        assert "was refused" in page.inner_text("#outcome")
        rc, out = login.finish()
        assert rc == 3, out
        assert "denied in the browser" in out
    finally:
        login.kill()


def test_sign_in_then_type_the_code(world: dict, browser: Any) -> None:  # type: ignore[type-arg]
    """A fresh browser: the verification address without the code, sign in, type it."""
    d: Daemon = world["d"]
    login = Login(d)
    try:
        code, _complete = _code(login)
        page = browser.new_context().new_page()
        page.goto(f"{d.url}/device")
        page.fill("#name", "alice")
        page.fill("#password", "not her password")
        page.click("button[type=submit]")
        assert "Wrong user name or password" in page.content()
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.fill("#user_code", code.lower().replace("-", " "))
        page.click("button[type=submit]")
        assert page.inner_text("#client").startswith("plat on ")
        page.click("button[value=approve]")
        rc, out = login.finish()
        assert rc == 0, out
    finally:
        login.kill()


def test_an_expired_code_ends_the_cli_and_cannot_be_approved(
        tmp_path_factory: pytest.TempPathFactory, browser: Any) -> None:
    d, setup_url = init_daemon(tmp_path_factory.mktemp("expiry"),
                               "device_poll_seconds = 0.5\ndevice_code_seconds = 5\n")
    try:
        page = browser.new_context().new_page()
        page.goto(setup_url)
        page.fill("#name", "root")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        login = Login(d)
        try:
            _user_code, complete = _code(login)
            rc, out = login.finish(timeout=60)
            assert rc == 9, out
            assert "expired" in out
            page.goto(complete)
            assert "not valid" in page.content()
        finally:
            login.kill()
    finally:
        d.stop()


class _DoublingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the daemon; the first token poll is retransmitted (a flaky link) until the
    daemon answers slow_down, and the CLI gets that answer. Retransmitting until then, rather
    than once, keeps a loaded machine from turning "at once" into "after the interval"."""

    upstream = ""
    polls: list[tuple[float, str]] = []
    doubled = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, data = self._forward(body)
        if self.path == "/v1/device/token" and not _DoublingProxy.doubled:
            _DoublingProxy.doubled = True
            for _ in range(50):
                status, data = self._forward(body)
                if b"slow_down" in data:
                    break
        if self.path == "/v1/device/token":
            _DoublingProxy.polls.append((time.monotonic(), data.decode()))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.headers.get("Authorization"):
            headers["Authorization"] = self.headers["Authorization"]
        req = urllib.request.Request(self.upstream + self.path, data=body or None,
                                     method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def log_message(self, *args: Any) -> None:
        pass


def test_slow_down_makes_the_cli_poll_more_slowly(world: dict) -> None:  # type: ignore[type-arg]
    d: Daemon = world["d"]
    _DoublingProxy.upstream = d.url
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DoublingProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    login = Login(d, f"http://127.0.0.1:{server.server_address[1]}")
    try:
        code, _complete = _code(login)
        login.expect(r"poll more slowly: every 5.5s", timeout=30)
        # approve once a poll after the slow_down has come
        deadline = time.monotonic() + 30
        while len(_DoublingProxy.polls) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        page = world["alice"].new_page()
        page.goto(f"{d.url}/device?user_code={code}")
        page.click("button[value=approve]")
        rc, out = login.finish()
        assert rc == 0, out
        polls = _DoublingProxy.polls
        assert "slow_down" in polls[0][1]
        assert all("slow_down" not in text for _t, text in polls[1:]), polls
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(polls)]
        assert min(gaps) >= 5.5, gaps  # the interval grew from 0.5 s by 5 s
    finally:
        login.kill()
        server.shutdown()
        server.server_close()
