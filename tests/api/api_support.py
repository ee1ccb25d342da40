"""Helpers for the HTTP API tests: a shared platd, unique names, and wire-format checks.

Starting ``platd`` costs a few seconds, so each test module shares one daemon and every test
works in an org of its own, which keeps tests independent without a daemon each. The ``Daemon``
class comes from ``tests/conftest.py``, loaded by path because pytest does not make conftest
modules importable.
"""

from __future__ import annotations

import http.client
import importlib.util
import itertools
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "examples" / "hello" / "plat.toml"


def _root_conftest() -> Any:
    name = "_plat_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


Daemon = _root_conftest().Daemon
free_port = _root_conftest().free_port
_names = itertools.count(1)


def unique(prefix: str = "t") -> str:
    """A valid resource name that no other test of this session uses."""
    return f"{prefix}{next(_names)}"


def start_daemon(tmp: Path) -> Any:
    d = Daemon(data=tmp / "data", config_dir=tmp / "config")
    d.init()
    d.start()
    return d


def stop_daemon(d: Any) -> None:
    from platd.server import secrets_root

    d.stop()
    # The fake runtime's instances die with the daemon; their secret files on tmpfs do not.
    if d.host_id:
        shutil.rmtree(secrets_root(d.host_id), ignore_errors=True)


@dataclass
class Raw:
    status: int
    body: Any
    data: bytes


def raw(d: Any, method: str, path: str, body: bytes | None = None, *, token: str | None = None,
        content_type: str = "application/json", headers: dict[str, str] | None = None) -> Raw:
    """One HTTP request with ``body`` sent byte for byte (``d.api`` always sends valid JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    sent = {"Accept": "application/json"}
    tok = d.token if token is None else token
    if tok:
        sent["Authorization"] = f"Bearer {tok}"
    if body is not None:
        sent["Content-Type"] = content_type
    sent.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        decoded = json.loads(data) if data else None
    except ValueError:
        decoded = None
    return Raw(response.status, decoded, data)


def make_env(d: Any, path: str | None = None) -> str:
    """Create ORG/PROJECT/APP/ENV with the admin token; default: a new org, app ``hello``."""
    path = path or f"{unique('org')}/shop/hello/prod"
    parts = path.split("/")
    for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        status, body = d.api("POST", f"/v1/tree/{plural}", {"path": "/".join(parts[:depth])})
        assert status in (201, 409), body
    return path


def env_url(target: str, rest: str = "") -> str:
    return f"/v1/envs/{target}{rest}"


def assert_wire_error(body: Any, code: str | None = None) -> dict[str, Any]:
    """``body`` is ``{"error": {"code", "message", "hint", "details"}}``; returns the inner dict."""
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "hint", "details"}, err
    assert isinstance(err["code"], str), err
    assert err["code"], err
    assert isinstance(err["message"], str), err
    assert err["message"], err
    assert isinstance(err["hint"], list), err
    assert all(isinstance(line, str) for line in err["hint"]), err
    assert isinstance(err["details"], dict), err
    if code is not None:
        assert err["code"] == code, err
    return dict(err)


def satisfy_gate(d: Any, target: str, token: str | None = None) -> None:
    """Set what examples/hello requires: the env var GREETING and the secret bundle db."""
    status, body = d.api("PATCH", env_url(target, "/config"), {"set": {"GREETING": "hi"}},
                         token=token)
    assert status == 200, body
    status, body = d.api("POST", env_url(target, "/secrets"),
                         {"name": "db", "values": {"PASSWORD": "pw"}}, token=token)
    assert status == 201, body


def deploy(d: Any, target: str, manifest: str | None = None, *, token: str | None = None,
           images: dict[str, str] | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"manifest": MANIFEST.read_text() if manifest is None else manifest}
    if images:
        body["images"] = images
    result: tuple[int, Any] = d.api("POST", env_url(target, "/deploy"), body, token=token)
    return result


def make_token(d: Any, org: str, role: str) -> tuple[str, str]:
    """A new token for ``org`` with ``role``: (secret value, token id)."""
    status, body = d.api("POST", "/v1/tokens", {"org": org, "role": role})
    assert status == 201, body
    return str(body["token"]), str(body["id"])


def state(d: Any, target: str) -> dict[str, Any]:
    """Everything a rejected mutation must leave alone, read with the admin token."""
    org, project, app, _env = target.split("/")
    out: dict[str, Any] = {}
    for key, path in {
        "orgs": "/v1/tree/orgs",
        "projects": f"/v1/tree/projects?parent={org}",
        "apps": f"/v1/tree/apps?parent={org}/{project}",
        "envs": f"/v1/tree/envs?parent={org}/{project}/{app}",
        "config": env_url(target, "/config"),
        "secrets": env_url(target, "/secrets"),
        "releases": env_url(target, "/releases"),
        "tokens": "/v1/tokens",
    }.items():
        status, body = d.api("GET", path)
        assert status == 200, body
        out[key] = body
    return out


def wait_converged(d: Any, target: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll until the env's current release has converged; returns that release."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = d.api("GET", env_url(target, "/releases"))
        assert status == 200, body
        current = next((r for r in body["releases"] if r["current"]), None)
        if current is not None and current["status"] == "converged":
            return dict(current)
        assert current is None or current["status"] != "failed", current
        assert time.monotonic() < deadline, f"{target} did not converge: {current}"
        time.sleep(0.1)
