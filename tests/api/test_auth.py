"""Who may do what, through the HTTP API: tokens, roles, org isolation, host-level actions.

Each test asserts what a user relies on: a missing, wrong or revoked token is refused with 401;
a role too small gets 403 naming the role it needs and changes nothing; another org's resources
read as absent (404, never 403) so a token cannot even learn they exist.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import (
    MANIFEST,
    assert_wire_error,
    deploy,
    env_url,
    make_env,
    make_token,
    raw,
    satisfy_gate,
    state,
    unique,
    wait_converged,
)

# Every route family, read and write, with a body that would be valid for an authorised caller.
ROUTES = [
    ("GET", "/v1/whoami", None),
    ("GET", "/v1/tokens", None),
    ("POST", "/v1/tokens", {"org": "nobody", "role": "viewer"}),
    ("GET", "/v1/tree/orgs", None),
    ("POST", "/v1/tree/orgs", {"path": "sneaky"}),
    ("GET", "/v1/envs/{t}/config", None),
    ("PATCH", "/v1/envs/{t}/config", {"set": {"GREETING": "x"}}),
    ("GET", "/v1/envs/{t}/secrets", None),
    ("POST", "/v1/envs/{t}/secrets", {"name": "db", "values": {"K": "v"}}),
    ("POST", "/v1/envs/{t}/deploy", {"manifest": "app = 'hello'"}),
    ("GET", "/v1/envs/{t}/releases", None),
    ("GET", "/v1/envs/{t}/status", None),
    ("GET", "/v1/envs/{t}/events", None),
    ("POST", "/v1/envs/{t}/scale", {"workload": "web", "count": 1}),
    ("POST", "/v1/envs/{t}/rollback", {}),
]


def _call(api: Any, method: str, path: str, body: Any, target: str, token: str) -> tuple[int, Any]:
    result: tuple[int, Any] = api.api(method, path.format(t=target), body, token=token)
    return result


def test_health_answers_without_a_token(api: Any) -> None:
    status, body = api.api("GET", "/v1/health", token="")
    assert status == 200
    assert body["ok"] is True
    assert body["host"] == api.host_id
    # A stale token in the client's config must not break the liveness check either.
    status, _ = api.api("GET", "/v1/health", token="plat_not-a-real-token")
    assert status == 200


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_no_token_is_401_unauthenticated(api: Any, fresh_env: str, method: str, path: str,
                                         body: Any) -> None:
    before = state(api, fresh_env)
    status, reply = _call(api, method, path, body, fresh_env, token="")
    assert status == 401
    err = assert_wire_error(reply, "unauthenticated")
    assert any("plat login" in line for line in err["hint"]), err
    assert state(api, fresh_env) == before


@pytest.mark.parametrize("token", ["plat_" + "x" * 43, "garbage", "plat_"])
def test_unknown_token_is_401(api: Any, fresh_env: str, token: str) -> None:
    for method, path, body in ROUTES:
        status, reply = _call(api, method, path, body, fresh_env, token=token)
        assert status == 401, (method, path, reply)
        assert_wire_error(reply, "unauthenticated")


def test_token_in_another_auth_scheme_is_not_accepted(api: Any) -> None:
    reply = raw(api, "GET", "/v1/whoami", token="",
                headers={"Authorization": f"Basic {api.token}"})
    assert reply.status == 401
    assert_wire_error(reply.body, "unauthenticated")


def test_revoked_token_is_401(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    secret, token_id = make_token(api, org, "deployer")
    status, me = api.api("GET", "/v1/whoami", token=secret)
    assert status == 200
    assert (me["org"], me["role"]) == (org, "deployer")

    status, body = api.api("DELETE", f"/v1/tokens/{token_id}")
    assert status == 200, body

    for method, path, body in ROUTES:
        status, reply = _call(api, method, path, body, fresh_env, token=secret)
        assert status == 401, (method, path, reply)
        err = assert_wire_error(reply, "unauthenticated")
        assert "revoked" in err["message"]
    status, tokens = api.api("GET", "/v1/tokens")
    assert token_id not in {t["id"] for t in tokens}


def test_an_owner_revokes_a_token_of_its_own_org(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    owner, _ = make_token(api, org, "owner")
    viewer, viewer_id = make_token(api, org, "viewer")
    status, body = api.api("DELETE", f"/v1/tokens/{viewer_id}", token=owner)
    assert status == 200, body
    assert api.api("GET", "/v1/whoami", token=viewer)[0] == 401


@pytest.fixture(scope="module")
def deployed_env(api: Any) -> str:
    """An env with config, a secret bundle and one converged release, set up by the admin.

    Shared by the tests below: each of them asserts that it changed nothing.
    """
    target = make_env(api)
    satisfy_gate(api, target)
    status, body = deploy(api, target)
    assert status == 201, body
    wait_converged(api, target)
    return target


READS = ["/config", "/secrets", "/secrets/db", "/releases", "/releases/v1", "/status",
         "/events", "/workloads/web"]


def test_viewer_can_read(api: Any, deployed_env: str) -> None:
    org, project, app, _ = deployed_env.split("/")
    viewer, _ = make_token(api, org, "viewer")
    for rest in READS:
        status, body = api.api("GET", env_url(deployed_env, rest), token=viewer)
        assert status == 200, (rest, body)
    for path in ("/v1/tree/orgs", f"/v1/tree/projects?parent={org}",
                 f"/v1/tree/apps?parent={org}/{project}",
                 f"/v1/tree/envs?parent={org}/{project}/{app}"):
        status, body = api.api("GET", path, token=viewer)
        assert status == 200, (path, body)
        assert body, path
    status, me = api.api("GET", "/v1/whoami", token=viewer)
    assert status == 200
    assert (me["org"], me["role"]) == (org, "viewer")


MUTATIONS = [
    ("PATCH", "/config", {"set": {"GREETING": "changed"}}),
    ("PATCH", "/config", {"unset": ["GREETING"]}),
    ("POST", "/deploy", None),  # filled in with the sample manifest
    ("POST", "/secrets", {"name": "cache", "values": {"K": "v"}}),
    ("PATCH", "/secrets/db", {"values": {"K": "v"}}),
    ("DELETE", "/secrets/db", None),
    ("POST", "/scale", {"workload": "web", "count": 5}),
    ("POST", "/rollback", {"release": "v1"}),
]


@pytest.mark.parametrize(("method", "rest", "body"), MUTATIONS)
def test_viewer_cannot_mutate(api: Any, deployed_env: str, method: str, rest: str,
                              body: Any) -> None:
    org = deployed_env.split("/")[0]
    viewer, _ = make_token(api, org, "viewer")
    if rest == "/deploy":
        body = {"manifest": MANIFEST.read_text()}
    before = state(api, deployed_env)
    status, reply = api.api(method, env_url(deployed_env, rest), body, token=viewer)
    assert status == 403, reply
    err = assert_wire_error(reply, "forbidden")
    assert "deployer" in err["message"]
    assert any("--role deployer" in line for line in err["hint"]), err
    after = state(api, deployed_env)
    assert after == before


@pytest.mark.parametrize(("plural", "path"), [
    ("projects", "{org}/other"),
    ("apps", "{org}/shop/other"),
    ("envs", "{org}/shop/hello/staging"),
])
def test_deployer_cannot_create_projects_apps_or_envs(api: Any, fresh_env: str, plural: str,
                                                      path: str) -> None:
    org = fresh_env.split("/")[0]
    deployer, _ = make_token(api, org, "deployer")
    before = state(api, fresh_env)
    status, reply = api.api("POST", f"/v1/tree/{plural}", {"path": path.format(org=org)},
                            token=deployer)
    assert status == 403, reply
    err = assert_wire_error(reply, "forbidden")
    assert "owner" in err["message"]
    assert any("--role owner" in line for line in err["hint"]), err
    assert state(api, fresh_env) == before


def test_deployer_cannot_delete_tree_nodes(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    deployer, _ = make_token(api, org, "deployer")
    before = state(api, fresh_env)
    status, reply = api.api("DELETE", f"/v1/tree/envs/{fresh_env}", token=deployer)
    assert status == 403, reply
    assert_wire_error(reply, "forbidden")
    assert state(api, fresh_env) == before


def test_deployer_can_set_config_create_secrets_and_deploy(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    deployer, _ = make_token(api, org, "deployer")
    satisfy_gate(api, fresh_env, token=deployer)
    status, receipt = deploy(api, fresh_env, token=deployer)
    assert status == 201, receipt
    assert receipt["release"]["created_by"] == f"{org}-deployer"
    status, releases = api.api("GET", env_url(fresh_env, "/releases"), token=deployer)
    assert status == 200
    assert [r["id"] for r in releases["releases"]] == [receipt["release"]["id"]]
    status, scaled = api.api("POST", env_url(fresh_env, "/scale"),
                             {"workload": "web", "count": 1}, token=deployer)
    assert 200 <= status < 300, scaled


def test_owner_can_build_the_tree_of_its_own_org(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    owner, _ = make_token(api, org, "owner")
    for plural, path in (("projects", f"{org}/extra"), ("apps", f"{org}/extra/web"),
                         ("envs", f"{org}/extra/web/dev")):
        status, body = api.api("POST", f"/v1/tree/{plural}", {"path": path}, token=owner)
        assert status == 201, body
    status, body = api.api("DELETE", f"/v1/tree/envs/{org}/extra/web/dev", token=owner)
    assert status == 200, body


def test_owner_of_one_org_cannot_see_or_touch_another(api: Any) -> None:
    mine = make_env(api)
    theirs = make_env(api)
    my_org, their_org = mine.split("/")[0], theirs.split("/")[0]
    satisfy_gate(api, theirs)
    owner, _ = make_token(api, my_org, "owner")
    before = state(api, theirs)

    # The other org's env and a name that exists nowhere must look exactly alike.
    ghost_org = unique("ghost")
    ghost = theirs.replace(their_org, ghost_org, 1)
    for method, rest, body in [("GET", "/config", None), ("GET", "/secrets", None),
                               ("GET", "/releases", None), ("GET", "/status", None),
                               ("GET", "/events", None),
                               ("PATCH", "/config", {"set": {"GREETING": "pwned"}}),
                               ("POST", "/secrets", {"name": "x", "values": {"K": "v"}}),
                               ("DELETE", "/secrets/db", None),
                               ("POST", "/scale", {"workload": "web", "count": 0}),
                               ("POST", "/rollback", {})]:
        status, reply = api.api(method, env_url(theirs, rest), body, token=owner)
        assert status == 404, (method, rest, reply)
        err = assert_wire_error(reply, "not_found")
        assert their_org not in err["details"].get("existing", []), err
        ghost_status, ghost_reply = api.api(method, env_url(ghost, rest), body, token=owner)
        assert ghost_status == 404
        assert json.dumps(reply).replace(their_org, "ORG") == \
            json.dumps(ghost_reply).replace(ghost_org, "ORG")
    status, reply = deploy(api, theirs, token=owner)
    assert status == 404, reply

    status, orgs = api.api("GET", "/v1/tree/orgs", token=owner)
    assert status == 200
    assert [o["name"] for o in orgs] == [my_org]
    for path in (f"/v1/tree/projects?parent={their_org}", f"/v1/tokens?org={their_org}"):
        status, reply = api.api("GET", path, token=owner)
        assert status == 404, (path, reply)
    for method, path, body in [
        ("POST", "/v1/tree/projects", {"path": f"{their_org}/mine-now"}),
        ("POST", "/v1/tokens", {"org": their_org, "role": "owner"}),
        ("DELETE", f"/v1/tree/envs/{theirs}", None),
    ]:
        status, reply = api.api(method, path, body, token=owner)
        assert status == 404, (method, path, reply)
        assert_wire_error(reply, "not_found")
    assert state(api, theirs) == before


def test_owner_cannot_revoke_or_list_another_orgs_tokens(api: Any) -> None:
    my_org = make_env(api).split("/")[0]
    their_org = make_env(api).split("/")[0]
    owner, _ = make_token(api, my_org, "owner")
    theirs, their_id = make_token(api, their_org, "viewer")
    status, reply = api.api("DELETE", f"/v1/tokens/{their_id}", token=owner)
    assert status == 404, reply
    assert api.api("GET", "/v1/whoami", token=theirs)[0] == 200
    status, listed = api.api("GET", "/v1/tokens", token=owner)
    assert status == 200
    assert {t["org"] for t in listed} == {my_org}


def test_only_the_host_admin_creates_orgs(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    wanted = unique("neworg")
    _, orgs_before = api.api("GET", "/v1/tree/orgs")
    for role in ("viewer", "deployer", "owner"):
        token, _ = make_token(api, org, role)
        status, reply = api.api("POST", "/v1/tree/orgs", {"path": wanted}, token=token)
        assert status == 403, (role, reply)
        err = assert_wire_error(reply, "forbidden")
        assert any("admin" in line for line in err["hint"]), err
    assert api.api("GET", "/v1/tree/orgs")[1] == orgs_before
    status, created = api.api("POST", "/v1/tree/orgs", {"path": wanted})
    assert status == 201, created
    assert created["path"] == wanted


def test_token_values_are_returned_once_and_never_listed(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    owner, _ = make_token(api, org, "owner")
    status, created = api.api("POST", "/v1/tokens", {"org": org, "role": "viewer",
                                                     "name": "ci-reader"}, token=owner)
    assert status == 201, created
    secret = created["token"]
    assert secret.startswith("plat_")
    assert len(secret) > 30

    secrets = [secret, owner, api.token]
    for token in (api.token, owner):
        for path in ("/v1/tokens", f"/v1/tokens?org={org}"):
            status, listed = api.api("GET", path, token=token)
            assert status == 200, listed
            text = json.dumps(listed)
            for value in secrets:
                assert value not in text
            assert all("token" not in row for row in listed)
            row = next(t for t in listed if t["id"] == created["id"])
            assert row["name"] == "ci-reader"
            assert row["hint"].endswith(secret[-4:])
    status, me = api.api("GET", "/v1/whoami", token=secret)
    assert status == 200
    assert secret not in json.dumps(me)


def test_viewer_and_deployer_cannot_manage_tokens(api: Any, fresh_env: str) -> None:
    org = fresh_env.split("/")[0]
    for role in ("viewer", "deployer"):
        token, _ = make_token(api, org, role)
        status, reply = api.api("POST", "/v1/tokens", {"org": org, "role": "owner"}, token=token)
        assert status == 403, reply
        assert_wire_error(reply, "forbidden")
        status, reply = api.api("GET", "/v1/tokens", token=token)
        assert status == 403, reply
