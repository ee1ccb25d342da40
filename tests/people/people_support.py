"""Helpers for the people tests: users made through real invites and real sign-in pages, and
tokens got through the real device flow, over HTTP (the browser tests do the same in Chromium).

``Visitor`` is a browser without a browser: one cookie jar, the forms' CSRF tokens read from
the pages, posts made as the pages' forms make them.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

PASSWORD = "correct horse battery"
FAST = "device_poll_seconds = 0.2\ndevice_code_seconds = 20\n"  # platd.toml for quick logins


class Visitor:
    """The session cookie is kept by hand: it is Secure (loopback counts as secure for
    browsers), and httpx, unlike Chromium, sends Secure cookies only over https."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.base = base
        self.session: str | None = None

    def close(self) -> None:
        self.http.close()

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            match = re.match(r"plat_session=([^;]*)", header)
            if match:
                self.session = match.group(1)
        self.http.cookies.clear()
        return response

    def _cookie(self) -> dict[str, str]:
        return {"Cookie": f"plat_session={self.session}"} if self.session else {}

    def get(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(path, headers=self._cookie()))

    def post(self, path: str, form: dict[str, str], *, page: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """A form post with the CSRF token of ``page`` (the HTML the form came from)."""
        data = dict(form)
        if page is not None:
            data.setdefault("csrf", csrf(page))
        return self._keep(self.http.post(path, data=data,
                                         headers={**self._cookie(), **(headers or {})}))


def csrf(html: str) -> str:
    match = re.search(r"name=csrf value='([^']+)'", html)
    assert match, html
    return match.group(1)


def invite(d: Any, org: str, name: str, role: str, token: str | None = None) -> str:
    """The code of a new invite (``plat members invite`` over the API)."""
    status, body = d.api("POST", f"/v1/orgs/{org}/invites", {"name": name, "role": role},
                         token=token)
    assert status == 201, body
    return str(body["code"])


def accept(d: Any, code: str, password: str = PASSWORD, name: str = "") -> httpx.Response:
    v = Visitor(d.url)
    try:
        page = v.get(f"/invite?code={code}")
        assert page.status_code == 200, page.text
        form = {"code": code, "password": password, **({"name": name} if name else {})}
        return v.post("/invite", form, page=page.text)
    finally:
        v.close()


def make_user(d: Any, org: str, name: str, role: str) -> None:
    r = accept(d, invite(d, org, name, role))
    assert r.status_code == 200, r.text


def start_login(d: Any, client: str = "plat on test") -> dict[str, Any]:
    r = httpx.post(f"{d.url}/v1/device/code", json={"client": client}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def poll(d: Any, device_code: str) -> tuple[int, dict[str, Any]]:
    r = httpx.post(f"{d.url}/v1/device/token", json={
        "device_code": device_code,
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, timeout=30)
    return r.status_code, dict(r.json())


def decide(d: Any, user_code: str, name: str, approve: bool = True,
           password: str = PASSWORD) -> httpx.Response:
    """Sign in as ``name`` on the code's page and press Approve (or Deny)."""
    v = Visitor(d.url)
    try:
        page = v.get(f"/device?user_code={user_code}")
        assert page.status_code == 200, page.text
        approval = v.post("/device/signin", {"name": name, "password": password,
                                             "user_code": user_code}, page=page.text)
        assert approval.status_code == 200, approval.text
        return v.post("/device/decision", {"user_code": user_code,
                                           "decision": "approve" if approve else "deny"},
                      page=approval.text)
    finally:
        v.close()


def user_token(d: Any, name: str) -> str:
    """A token of user ``name``, through the device flow."""
    login = start_login(d)
    r = decide(d, login["user_code"], name)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(float(login["interval"]) + 0.1)
        status, body = poll(d, login["device_code"])
        if status == 200:
            return str(body["access_token"])
        assert body["error"] == "authorization_pending", body
    raise AssertionError("no token")
