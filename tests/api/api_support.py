"""Helpers for the HTTP API tests: raw requests and wire-format checks.

The shared daemon and unique names come from ``tests/daemon_support.py``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from daemon_support import (  # noqa: F401 - re-exported for the tests
    MANIFEST,
    PLAT,
    PLATD,
    ROOT,
    Daemon,
    Result,
    free_port,
    make_env,
    start_daemon,
    start_real_daemon,
    stop_daemon,
    unique,
)


@dataclass
class Raw:
    status: int
    body: Any
    data: bytes


def raw(d: Any, method: str, path: str, body: bytes | None = None, *, token: str | None = None,
        content_type: str = "application/json", headers: dict[str, str] | None = None) -> Raw:
    """One HTTP request with ``body`` sent byte for byte (``d.api`` always sends valid JSON)."""
    sent = dict(headers or {})
    if body is not None:
        sent.setdefault("Content-Type", content_type)
    response = d.request(method, path, content=body, token=token, headers=sent)
    data = response.content
    try:
        decoded = json.loads(data) if data else None
    except ValueError:
        decoded = None
    return Raw(response.status_code, decoded, data)


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
        time.sleep(0.02)
