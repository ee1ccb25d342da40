"""The hostile-input corpus (``hostile_cases.py``) against a daemon: every case is refused with
a 4xx in the one error format, with words that say what is wrong, without changing any state
and without a traceback in the daemon's log.

State is read before and after each case (tree, config, secrets, releases, tokens), so
"refused" also means "nothing happened". Runs on the in-process daemon: what is tested is the
API, and 200+ requests through a socket and a second process would only cost time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import (
    assert_wire_error,
    deploy,
    env_url,
    make_env,
    raw,
    satisfy_gate,
    state,
    wait_converged,
)
from hostile_cases import BODIES, QUERIES, SECRET_VALUES, Case


@pytest.fixture(scope="module")
def target(api: Any) -> str:
    """An env with config, a bundle ``db`` and a release: something a refusal could damage."""
    path = make_env(api)
    satisfy_gate(api, path)
    status, body = deploy(api, path)
    assert status == 201, body
    wait_converged(api, path)  # a rollout under way would change the state each case reads
    return path


def _check(api: Any, target: str, case: Case) -> dict[str, Any]:
    org = target.split("/")[0]
    path = case.path.format(t=env_url(target), org=org)
    body = case.body.replace(b"{org}", org.encode()) if case.body is not None else None
    before, log_before = state(api, target), len(api.log())
    reply = raw(api, case.method, path, body)
    if case.status:
        assert reply.status == case.status, (reply.status, reply.data[:500])
    assert 400 <= reply.status < 500, (reply.status, reply.data[:500])
    err = assert_wire_error(reply.body, case.code or None)
    said = json.dumps(err, ensure_ascii=False)
    for word in case.words:
        assert word in said, (word, err)
    assert state(api, target) == before
    logged = api.log()[log_before:]
    assert "Traceback" not in logged, logged[-3000:]
    assert len(logged.splitlines()) <= 2, logged[-3000:]  # a refusal is not a log event
    return err


@pytest.mark.parametrize("case", BODIES, ids=[c.id for c in BODIES])
def test_hostile_bodies_are_refused_without_a_trace(api: Any, target: str, case: Case) -> None:
    _check(api, target, case)


@pytest.mark.parametrize("case", QUERIES, ids=[c.id for c in QUERIES])
def test_hostile_queries_are_refused_without_a_trace(api: Any, target: str, case: Case) -> None:
    _check(api, target, case)


@pytest.mark.parametrize(("name", "values"), SECRET_VALUES, ids=[n for n, _ in SECRET_VALUES])
@pytest.mark.parametrize("route", ["create", "update", "config"])
def test_refused_secret_values_are_never_echoed(api: Any, target: str, name: str,
                                               values: dict[str, Any], route: str) -> None:
    method, path, body = {
        "create": ("POST", "{t}/secrets", {"name": "cache", "values": values}),
        "update": ("PATCH", "{t}/secrets/db", {"values": values}),
        "config": ("PATCH", "{t}/config", {"set": values}),
    }[route]
    err = _check(api, target, Case(name, method, path, json.dumps(body).encode()))
    assert "s3cr3t" not in json.dumps(err), err


def test_deep_json_is_refused_before_the_token_is_read(api: Any, target: str) -> None:
    # Without a token, and with a bad one, the answer is the same 422: nesting is judged before
    # anything else, so nobody can make the daemon parse it by guessing a route.
    # Nor does it write to the daemon's log: thousands of such requests are not a log flood.
    log_before = len(api.log())
    for token in ("", "plat_not_a_token"):
        reply = raw(api, "PATCH", env_url(target, "/config"), b"[" * 100_000, token=token)
        assert reply.status == 422, reply.data[:300]
        assert "32 deep" in assert_wire_error(reply.body, "invalid_input")["message"]
    logged = api.log()[log_before:]
    assert "Traceback" not in logged, logged[-3000:]
    assert len(logged.splitlines()) <= 2, logged[-3000:]  # (a reconciler line may pass by)


def test_a_wrong_method_is_405_naming_the_allowed_ones(api: Any, target: str) -> None:
    response = api.request("DELETE", env_url(target, "/config"))
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed
    assert "DELETE" not in allowed
    err = assert_wire_error(response.json(), "http_405")
    assert "GET" in err["hint"][0]


def test_the_corpus_is_large_enough() -> None:
    # The issue asks for at least 150 cases; the manifests are also checked in the unit tests.
    assert len(BODIES) + len(QUERIES) + 3 * len(SECRET_VALUES) >= 150


def test_options_and_405_name_every_method_of_every_documented_path(api: Any,
                                                                   target: str) -> None:
    # Litestar kept a path's first OPTIONS handler when handlers for more methods of the same
    # path were added: OPTIONS .../config said "GET, OPTIONS" although PATCH works there.
    org, project, app, env = target.split("/")
    names = {"org": org, "project": project, "app": app, "env": env, "host": api.host_id,
             "plural": "orgs", "name": "x", "release": "x", "workload": "web", "member": "x"}
    status, doc = api.api("GET", "/v1/openapi.json")
    assert status == 200
    checked = 0
    for template, item in doc["paths"].items():
        path = template.format(**{k: names.get(k, "x") for k in _placeholders(template)})
        documented = {m.upper() for m in item if m in ("get", "put", "post", "patch", "delete")}
        response = api.request("OPTIONS", path)
        assert response.status_code == 204, (path, response.status_code)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert documented | {"OPTIONS"} <= allowed, (template, allowed)
        unused = next((m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in allowed), None)
        if unused is not None:
            refused = api.request(unused, path)
            assert refused.status_code == 405, (unused, path)
            assert {m.strip() for m in refused.headers["allow"].split(",")} == allowed, path
        checked += 1
    assert checked >= 40  # every path of the document


def _placeholders(template: str) -> list[str]:
    import re

    return re.findall(r"{([^}]+)}", template)


def test_a_flood_of_device_logins_is_refused_as_a_conflict_not_a_server_error(
        api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from platd.auth import device

    monkeypatch.setattr(device, "MAX_PENDING", 2)
    answers = [raw(api, "POST", "/v1/device/code", b'{"client": "flood"}', token="")
               for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 409], [a.data[:300] for a in answers]
    err = assert_wire_error(answers[2].body, "conflict")
    assert "too many logins are in progress" in err["message"]
    assert "Traceback" not in api.log()
