"""What the API does with input it must refuse: always a 4xx in the one error format, never a
500, and never a partial change.

Every rejected mutation below is checked against a snapshot of the tree, config, secrets,
releases and tokens taken before it, so "refused" also means "nothing happened".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import (
    MANIFEST,
    assert_wire_error,
    deploy,
    env_url,
    make_env,
    raw,
    satisfy_gate,
    state,
    unique,
    wait_converged,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def target(api: Any) -> str:
    """An env with config, a bundle ``db`` and one converged release: something to damage."""
    path = make_env(api)
    satisfy_gate(api, path)
    status, body = deploy(api, path)
    assert status == 201, body
    wait_converged(api, path)
    return path


@pytest.fixture
def unchanged(api: Any, target: str) -> Iterator[None]:
    """Fails the test if the daemon's state for ``target`` changed while it ran."""
    before = state(api, target)
    yield
    assert state(api, target) == before


def _route(target: str, path: str) -> str:
    return path.format(t=f"/v1/envs/{target}", org=target.split("/")[0])


# (method, path, a body the route would accept)
BODY_ROUTES = [
    ("PATCH", "{t}/config", {"set": {"GREETING": "changed"}}),
    ("POST", "{t}/secrets", {"name": "cache", "values": {"K": "v"}}),
    ("PATCH", "{t}/secrets/db", {"values": {"K": "v"}}),
    ("POST", "{t}/deploy", {"manifest": MANIFEST.read_text()}),
    ("POST", "{t}/scale", {"workload": "web", "count": 3}),
    ("POST", "{t}/rollback", {"release": "v1"}),
    ("POST", "/v1/tree/orgs", {"path": "brand-new"}),
    ("POST", "/v1/tree/projects", {"path": "{org}/brand-new"}),
    ("POST", "/v1/tokens", {"org": "{org}", "role": "viewer"}),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _ in BODY_ROUTES]

MALFORMED = [
    b"{not json",
    b'{"set": {"GREETING": "x"}',
    b"\xff\xfe\x00garbage",
    b"",
    b"null",
    b"[]",
    b'"a string"',
    b"42",
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "_body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_malformed_json_is_a_4xx_in_the_wire_format(api: Any, target: str, method: str,
                                                    path: str, _body: Any) -> None:
    for payload in MALFORMED:
        reply = raw(api, method, _route(target, path), payload)
        assert 400 <= reply.status < 500, (payload, reply.status, reply.data)
        assert_wire_error(reply.body, "invalid_input")


WRONG_TYPES = [
    ("PATCH", "{t}/config", {"set": {"GREETING": 1}}, "set"),
    ("PATCH", "{t}/config", {"set": ["GREETING=x"]}, "set"),
    ("PATCH", "{t}/config", {"set": {"GREETING": None}}, "set"),
    ("PATCH", "{t}/config", {"unset": "GREETING"}, "unset"),
    ("POST", "{t}/secrets", {"name": 5, "values": {"K": "v"}}, "name"),
    ("POST", "{t}/secrets", {"name": "cache", "values": ["K=v"]}, "values"),
    ("POST", "{t}/secrets", {"name": "cache", "values": {"K": 1}}, "values"),
    ("POST", "{t}/secrets", {"name": "cache"}, "values"),
    ("PATCH", "{t}/secrets/db", {"values": "K=v"}, "values"),
    ("POST", "{t}/deploy", {"manifest": 5}, "manifest"),
    ("POST", "{t}/deploy", {}, "manifest"),
    ("POST", "{t}/deploy", {"manifest": "app = 'hello'", "images": ["x:1"]}, "images"),
    ("POST", "{t}/scale", {"workload": "web", "count": "three"}, "count"),
    ("POST", "{t}/scale", {"workload": "web", "count": 1.5}, "count"),
    ("POST", "{t}/scale", {"workload": "web", "memory": 128}, "memory"),
    ("POST", "{t}/scale", {"count": 3}, "workload"),
    ("POST", "{t}/rollback", {"release": 1}, "release"),
    ("POST", "/v1/tree/orgs", {"path": 7}, "path"),
    ("POST", "/v1/tree/orgs", {"path": None}, "path"),
    ("POST", "/v1/tokens", {"org": "{org}", "role": ["viewer"]}, "role"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES,
                         ids=[f"{m} {p} {json.dumps(b)}" for m, p, b, _ in WRONG_TYPES])
def test_wrong_types_are_refused_naming_the_field(api: Any, target: str, method: str, path: str,
                                                  body: Any, field: str) -> None:
    body = json.loads(json.dumps(body).replace("{org}", target.split("/")[0]))
    status, reply = api.api(method, _route(target, path), body)
    assert status == 422, reply
    err = assert_wire_error(reply, "invalid_input")
    assert field in err["message"], err


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_unknown_fields_are_refused_by_name(api: Any, target: str, method: str, path: str,
                                            body: Any) -> None:
    body = json.loads(json.dumps(body).replace("{org}", target.split("/")[0]))
    status, reply = api.api(method, _route(target, path), {**body, "surprise": True})
    assert status == 422, reply
    err = assert_wire_error(reply, "invalid_input")
    assert "surprise" in err["message"], err


OVERSIZED = [
    ("PATCH", "{t}/config", lambda n: {"set": {"BIG": "x" * n}}),
    ("POST", "{t}/secrets", lambda n: {"name": "big", "values": {"BIG": "x" * n}}),
    ("POST", "{t}/deploy", lambda n: {"manifest": 'app = "hello"\n#' + "x" * n}),
    ("POST", "/v1/tree/orgs", lambda n: {"path": "x" * n}),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "make"), OVERSIZED,
                         ids=[f"{m} {p}" for m, p, _ in OVERSIZED])
def test_a_body_over_one_mib_is_refused(api: Any, target: str, method: str, path: str,
                                        make: Any) -> None:
    payload = json.dumps(make(MIB + 1024)).encode()
    assert len(payload) > MIB
    reply = raw(api, method, _route(target, path), payload)
    assert 400 <= reply.status < 500, (reply.status, reply.data[:300])
    err = assert_wire_error(reply.body, "invalid_input")
    assert "too large" in err["message"]


@pytest.mark.usefixtures("unchanged")
def test_a_value_over_the_per_value_limit_is_refused(api: Any, target: str) -> None:
    status, reply = api.api("PATCH", env_url(target, "/config"), {"set": {"BIG": "x" * 70_000}})
    assert status == 422, reply
    err = assert_wire_error(reply, "invalid_input")
    assert "BIG" in err["message"]


BAD_NAMES = ["Acme", "1acme", "a" * 41, "a/b", "a_b", "-a", "a-", "a.b", "a b", "ä", ""]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("plural", ["orgs", "projects", "apps", "envs"])
def test_invalid_tree_names_are_refused(api: Any, target: str, plural: str) -> None:
    parent = "/".join(target.split("/")[: ["orgs", "projects", "apps", "envs"].index(plural)])
    for name in BAD_NAMES:
        path = f"{parent}/{name}" if parent else name
        status, reply = api.api("POST", f"/v1/tree/{plural}", {"path": path})
        assert status == 422, (name, reply)
        err = assert_wire_error(reply, "invalid_input")
        assert err["hint"], err


@pytest.mark.usefixtures("unchanged")
def test_invalid_secret_bundle_names_are_refused(api: Any, target: str) -> None:
    for name in BAD_NAMES:
        status, reply = api.api("POST", env_url(target, "/secrets"),
                                {"name": name, "values": {"K": "v"}})
        assert status == 422, (name, reply)
        err = assert_wire_error(reply, "invalid_input")
        assert "invalid secret bundle name" in err["message"], err


@pytest.mark.usefixtures("unchanged")
def test_invalid_config_keys_are_refused(api: Any, target: str) -> None:
    for key in ["1A", "A-B", "A B", "", "É", "A=B"]:
        status, reply = api.api("PATCH", env_url(target, "/config"), {"set": {key: "v"}})
        assert status == 422, (key, reply)
        assert_wire_error(reply, "invalid_input")


def test_names_at_the_length_limit_are_accepted(api: Any) -> None:
    longest = unique("n").ljust(40, "x")
    status, body = api.api("POST", "/v1/tree/orgs", {"path": longest})
    assert status == 201, body
    status, body = api.api("POST", "/v1/tree/projects", {"path": f"{longest}/p"})
    assert status == 201, body


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("plural", ["orgs", "projects", "apps", "envs"])
def test_duplicate_tree_names_are_a_409_conflict(api: Any, target: str, plural: str) -> None:
    path = "/".join(target.split("/")[: ["orgs", "projects", "apps", "envs"].index(plural) + 1])
    status, reply = api.api("POST", f"/v1/tree/{plural}", {"path": path})
    assert status == 409, reply
    err = assert_wire_error(reply, "conflict")
    assert "already exists" in err["message"]
    assert err["hint"], err


@pytest.mark.usefixtures("unchanged")
def test_duplicate_secret_bundle_is_a_409_conflict(api: Any, target: str) -> None:
    status, reply = api.api("POST", env_url(target, "/secrets"),
                            {"name": "db", "values": {"OTHER": "v"}})
    assert status == 409, reply
    err = assert_wire_error(reply, "conflict")
    assert any("plat secrets update db" in line for line in err["hint"]), err


def test_a_deleted_name_can_be_used_again(api: Any) -> None:
    path = make_env(api)
    status, body = api.api("DELETE", f"/v1/tree/envs/{path}")
    assert status == 200, body
    assert (body["kind"], body["path"]) == ("env", path)
    status, body = api.api("POST", "/v1/tree/envs", {"path": path})
    assert status == 201, body


@pytest.mark.usefixtures("unchanged")
def test_deleting_a_node_that_has_children_is_a_409_naming_them(api: Any, target: str) -> None:
    org = target.split("/")[0]
    status, reply = api.api("DELETE", f"/v1/tree/projects/{org}/shop")
    assert status == 409, reply
    err = assert_wire_error(reply, "conflict")
    assert err["message"] == f"project {org}/shop still has apps: hello"
    assert err["hint"] == [f"delete them first: plat apps delete {org}/shop/NAME"]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("level", "existing"), [(0, None), (1, "shop"), (2, "hello"),
                                                 (3, "prod")])
def test_unknown_names_are_404_listing_what_exists(api: Any, target: str, level: int,
                                                   existing: str | None) -> None:
    parts = target.split("/")
    parts[level] = unique("nope")
    wanted = "/".join(parts)
    kind = ("org", "project", "app", "env")[level]
    for method, rest, body in [("GET", "/config", None), ("GET", "/status", None),
                               ("PATCH", "/config", {"set": {"A": "b"}}),
                               ("POST", "/deploy", {"manifest": MANIFEST.read_text()})]:
        status, reply = api.api(method, env_url(wanted, rest), body)
        assert status == 404, (method, rest, reply)
        err = assert_wire_error(reply, "not_found")
        assert err["details"]["kind"] == kind
        assert err["details"]["name"] == parts[level]
        assert (existing or target.split("/")[0]) in err["details"]["existing"]
        assert f"({kind}s there: " in err["message"]
        assert any(f"plat {kind}s create" in line for line in err["hint"]), err


@pytest.mark.usefixtures("unchanged")
def test_unknown_bundle_workload_and_release_are_404_naming_what_exists(api: Any,
                                                                        target: str) -> None:
    cases = [
        ("GET", "/secrets/nope", None, "db"),
        ("PATCH", "/secrets/nope", {"values": {"K": "v"}}, "db"),
        ("DELETE", "/secrets/nope", None, "db"),
        ("POST", "/scale", {"workload": "nope", "count": 1}, "web"),
        ("GET", "/workloads/nope", None, "web"),
        ("GET", "/releases/v99", None, "plat releases"),
        ("POST", "/rollback", {"release": "v99"}, "plat releases"),
    ]
    for method, rest, body, named in cases:
        status, reply = api.api(method, env_url(target, rest), body)
        assert status == 404, (method, rest, reply)
        err = assert_wire_error(reply, "not_found")
        assert named in err["message"] + " ".join(err["hint"]), (method, rest, err)


@pytest.mark.parametrize(("manifest", "line", "field"), [
    ('app = "hello"\n[workloads.web\nimage = "x:1"\n', 2, ""),
    ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\nbogus = 1\n', 5, "workloads.web.bogus"),
    ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\ncount = "two"\n', 5, "workloads.web.count"),
    ('app = "hello"\nsurprise = true\n\n[workloads.web]\nimage = "x:1"\n', 2, "surprise"),
])
def test_an_invalid_manifest_is_422_with_line_numbers_and_no_release(
    api: Any, fresh_env: str, manifest: str, line: int, field: str
) -> None:
    satisfy_gate(api, fresh_env)
    before = state(api, fresh_env)
    status, reply = deploy(api, fresh_env, manifest)
    assert status == 422, reply
    err = assert_wire_error(reply, "manifest_invalid")
    issues = err["details"]["issues"]
    assert [i["line"] for i in issues] == [line], issues
    assert issues[0]["path"] == field
    assert any(f"line {line}" in h for h in err["hint"]), err
    assert state(api, fresh_env) == before
    assert before["releases"]["releases"] == []


def test_every_manifest_problem_is_reported_at_once(api: Any, fresh_env: str) -> None:
    manifest = ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\ncount = "two"\n'
                "cpu = -1\nbogus = 1\n")
    status, reply = deploy(api, fresh_env, manifest)
    assert status == 422, reply
    issues = assert_wire_error(reply, "manifest_invalid")["details"]["issues"]
    assert {(i["path"], i["line"]) for i in issues} >= {
        ("workloads.web.count", 5), ("workloads.web.cpu", 6), ("workloads.web.bogus", 7)}


def test_a_manifest_for_another_app_is_refused(api: Any, fresh_env: str) -> None:
    satisfy_gate(api, fresh_env)
    before = state(api, fresh_env)
    status, reply = deploy(api, fresh_env, MANIFEST.read_text().replace('"hello"', '"other"'))
    assert status == 422, reply
    err = assert_wire_error(reply, "invalid_input")
    assert "other" in err["message"]
    assert state(api, fresh_env) == before


GATED = """\
app = "hello"

[env]
required = ["GREETING", "DATABASE_URL"]

[secrets]
bundles = ["db", "cache"]

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
"""


def test_the_config_gate_lists_every_missing_item_and_creates_no_release(
    api: Any, fresh_env: str
) -> None:
    before = state(api, fresh_env)
    status, reply = deploy(api, fresh_env, GATED)
    assert status == 409, reply
    err = assert_wire_error(reply, "config_gate")
    missing = err["details"]["missing"]
    assert [(m["kind"], m["name"], m["line"]) for m in missing] == [
        ("env", "GREETING", 4), ("env", "DATABASE_URL", 4), ("secret", "db", 7),
        ("secret", "cache", 7)]
    for m in missing:
        assert f"--target {fresh_env}" in m["fix"]
        assert any(m["fix"] in line for line in err["hint"]), m
    assert state(api, fresh_env) == before
    status, releases = api.api("GET", env_url(fresh_env, "/releases"))
    assert releases["releases"] == []
    status, events = api.api("GET", env_url(fresh_env, "/events"))
    assert events["events"] == []

    # Closing some gaps leaves exactly the others.
    api.api("PATCH", env_url(fresh_env, "/config"), {"set": {"GREETING": "hi"}})
    api.api("POST", env_url(fresh_env, "/secrets"), {"name": "db", "values": {"K": "v"}})
    status, reply = deploy(api, fresh_env, GATED)
    assert status == 409, reply
    missing = assert_wire_error(reply, "config_gate")["details"]["missing"]
    assert [m["name"] for m in missing] == ["DATABASE_URL", "cache"]
    assert api.api("GET", env_url(fresh_env, "/releases"))[1]["releases"] == []

    api.api("PATCH", env_url(fresh_env, "/config"), {"set": {"DATABASE_URL": "postgres://x"}})
    api.api("POST", env_url(fresh_env, "/secrets"), {"name": "cache", "values": {"K": "v"}})
    status, reply = deploy(api, fresh_env, GATED)
    assert status == 201, reply


def test_unsetting_a_required_key_closes_the_gate_again(api: Any, fresh_env: str) -> None:
    satisfy_gate(api, fresh_env)
    assert deploy(api, fresh_env)[0] == 201
    api.api("PATCH", env_url(fresh_env, "/config"), {"unset": ["GREETING"]})
    status, reply = deploy(api, fresh_env)
    assert status == 409, reply
    missing = assert_wire_error(reply, "config_gate")["details"]["missing"]
    assert [m["name"] for m in missing] == ["GREETING"]
    assert len(api.api("GET", env_url(fresh_env, "/releases"))[1]["releases"]) == 1


def test_releases_are_immutable(api: Any, target: str) -> None:
    releases = api.api("GET", env_url(target, "/releases"))[1]["releases"]
    release = releases[-1]
    _, before = api.api("GET", env_url(target, f"/releases/{release['id']}"))
    for method in ("PUT", "PATCH", "DELETE"):
        for ref in ("v1", release["id"]):
            body = {"images": {"web": "evil:latest"}} if method != "DELETE" else None
            status, reply = api.api(method, env_url(target, f"/releases/{ref}"), body)
            assert status == 409, (method, ref, reply)
            err = assert_wire_error(reply, "conflict")
            assert "immutable" in err["message"]
    _, after = api.api("GET", env_url(target, f"/releases/{release['id']}"))
    frozen = ("id", "seq", "images", "manifest", "config_version", "secret_versions",
              "created_at", "created_by", "source")
    assert {k: after[k] for k in frozen} == {k: before[k] for k in frozen}
    assert api.api("GET", env_url(target, "/releases"))[1]["releases"][-1]["id"] == release["id"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/nope"),
    ("GET", "/nope"),
    ("POST", "/v1/envs/a/b/c/d/nope"),
    ("GET", "/v1/envs/a/b"),
    ("GET", "/v2/health"),
])
def test_an_unknown_route_is_404_in_the_wire_format(api: Any, method: str, path: str) -> None:
    reply = raw(api, method, path, b"{}" if method == "POST" else None)
    assert reply.status == 404, reply.data
    err = assert_wire_error(reply.body, "not_found")
    assert path in err["message"]
    assert err["hint"], err


def test_the_api_document_named_by_the_404_hint_exists(api: Any) -> None:
    err = assert_wire_error(raw(api, "GET", "/v1/nope").body, "not_found")
    urls = [word for line in err["hint"] for word in line.split() if word.startswith("/v1/")]
    assert urls, err
    document = raw(api, "GET", urls[0], token="")
    assert document.status == 200, (urls[0], document.data[:200])
    assert "openapi" in document.body
    assert "/v1/envs/{org}/{project}/{app}/{env}/deploy" in document.body["paths"]


def test_a_wrong_method_is_a_4xx_in_the_wire_format(api: Any) -> None:
    reply = raw(api, "DELETE", "/v1/health")
    assert reply.status == 405
    assert_wire_error(reply.body)


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=100000", "after=x",
                                   "since=yesterday", "wait=forever"])
def test_bad_query_parameters_are_422(api: Any, target: str, query: str) -> None:
    reply = raw(api, "GET", env_url(target, f"/events?{query}"))
    assert reply.status == 422, reply.data
    assert_wire_error(reply.body, "invalid_input")
