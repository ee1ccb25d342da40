"""Every route of the API, called by users of every role in two orgs: 0 leaks.

Two orgs, each with a deployed env, config, a secret, an org token and three members (viewer,
deployer, owner), whose tokens come from the real device flow. The routes are read from the
app itself and each must have an entry in ``ROUTES`` saying who may call it: a route added
later without one fails the first test, and with one it is in the matrix.

- A member of one org, whatever their role, gets 404 from every route that names the other
  org's resources (not even whether they exist), and no answer of any route, pages included,
  holds the other org's data (its ids, config values, secret key names, member names).
- Within their own org, a role below a route's gets 403 (the things named exist, so the refusal
  is for the role), and every read their role allows answers them.
- Host-level routes (hosts, peers) answer no member with a 2xx. This daemon is in no cluster,
  so they refuse everyone with "not in a cluster" first; a member refused on a cluster member
  is not shown here.
- The websockets follow the same rules: exec (other org: not_found, a viewer: forbidden), the
  peer exec and the console's (a bearer token opens neither).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from people_support import make_user, user_token

from tests.api.api_support import deploy, satisfy_gate, wait_converged
from tests.daemon_support import MANIFEST

ROLES = ("viewer", "deployer", "owner")
RANK = {role: i for i, role in enumerate(ROLES)}
E = "/v1/envs/{org}/{project}/{app}/{env}"
# Every route of the app, by what it asks of its caller. A route missing here fails
# test_every_route_of_the_app_is_in_the_matrix: whoever adds one must say who may call it.
#   public    no credential; holds nothing of any org (the device flow's machine endpoints)
#   page      a browser session's cookie, not a bearer token (the people pages and the web
#             console, whose commands are these routes called with the person's own token:
#             tests/console); a bearer token alone must get nothing of any org from them
#   unscoped  any user; names no org; the answer holds nothing of an org they are not in
#   host      the host admin or a peer host only: every member of every org is refused
#   immutable refused for everyone, whatever exists (a release cannot be changed)
#   viewer, deployer, owner: the least org role that may call it; a member of another org
#             gets 404 (not even whether it exists), a lower role of the same org 403
ROUTES: dict[tuple[str, str], str] = {
    **{("GET", p): "public" for p in (
        "/v1/health", "/v1/tls/ca", "/v1/openapi.json", "/v1/schema",
        "/v1/schema/openapi.json", "/v1/schema/{path}")},
    ("POST", "/v1/device/code"): "public", ("POST", "/v1/device/token"): "public",
    **dict.fromkeys((
        ("GET", "/device"), ("POST", "/device"), ("POST", "/device/signin"),
        ("POST", "/device/decision"), ("GET", "/setup"), ("POST", "/setup"),
        ("GET", "/invite"), ("POST", "/invite"), ("GET", "/console"),
        ("POST", "/console/signin"), ("POST", "/console/signout"), ("POST", "/console/ticket"),
        ("POST", "/console/files"), ("GET", "/console/static/{path}"),
        ("WS", "/console/ws")), "page"),
    **{("GET", p): "unscoped" for p in (
        "/v1/whoami", "/v1/tokens", "/v1/tree/{plural}", "/v1/cluster", "/v1/hosts",
        "/v1/hosts/{host}")},
    **dict.fromkeys((
        ("DELETE", "/v1/hosts/{host}"), ("POST", "/v1/hosts/join-tokens"),
        ("POST", "/v1/hosts/{host}/{action}"), ("GET", "/v1/peer/high-water"),
        ("GET", "/v1/peer/rows"), ("POST", "/v1/peer/join"), ("GET", "/v1/peer/logs"),
        ("POST", "/v1/peer/volumes"), ("WS", "/v1/peer/exec")), "host"),
    **{(m, E + "/releases/{release}"): "immutable" for m in ("PUT", "PATCH", "DELETE")},
    **{("GET", E + p): "viewer" for p in (
        "/config", "/secrets", "/secrets/{name}", "/releases", "/releases/{release}",
        "/status", "/workloads/{name}", "/instances/{instance}", "/events", "/instances",
        "/logs", "/volumes", "/volumes/{name}", "/volumes/{name}/snapshots", "/endpoints",
        "/endpoints/{name}")},
    ("GET", "/v1/orgs/{org}/exposed"): "viewer", ("GET", "/v1/orgs/{org}/members"): "viewer",
    # a check sends one request through the endpoint and reads what came back, like a visitor
    ("POST", E + "/endpoints/{name}/check"): "viewer",
    **{(m, E + p): "deployer" for m, p in (
        ("PATCH", "/config"), ("POST", "/secrets"), ("PATCH", "/secrets/{name}"),
        ("DELETE", "/secrets/{name}"), ("POST", "/deploy"), ("POST", "/builds"),
        ("POST", "/rollback"), ("POST", "/scale"), ("POST", "/volumes"),
        ("PATCH", "/volumes/{name}"), ("DELETE", "/volumes/{name}"),
        ("POST", "/volumes/{name}/snapshots"),
        ("POST", "/volumes/{name}/snapshots/{snapshot}/restore"),
        ("DELETE", "/volumes/{name}/snapshots/{snapshot}"), ("POST", "/endpoints"),
        ("PATCH", "/endpoints/{name}"), ("DELETE", "/endpoints/{name}"), ("WS", "/exec"),
        ("POST", "/exec/sessions"), ("DELETE", "/exec/sessions/{session_id}"))},
    **dict.fromkeys((
        ("POST", "/v1/tokens"), ("DELETE", "/v1/tokens/{token_id}"),
        ("POST", "/v1/tree/{plural}"), ("DELETE", "/v1/tree/{plural}/{path}"),
        ("POST", "/v1/orgs/{org}/invites"), ("PATCH", "/v1/orgs/{org}/members/{name}"),
        ("DELETE", "/v1/orgs/{org}/members/{name}")), "owner"),
}
SCOPED = ("viewer", "deployer", "owner")
# What a member above whose role a route is gets in their own org: 403, but a token they cannot
# list (an org token, another person's) is not found for them.
ABOVE_THE_ROLE = {("DELETE", "/v1/tokens/{token_id}"): (403, 404),
                  # a session is cancelled only by the token that opened it, which a role below
                  # deployer never did: there is none for them
                  ("DELETE", E + "/exec/sessions/{session_id}"): (404,)}
# Host routes on this daemon, which is in no cluster: 401/403, or 409 "not in a cluster" (the
# peer routes' query is checked first: 422). Never a 2xx.
HOST_REFUSALS = (401, 403, 409, 422)

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/tokens"): {"org": "{org}", "role": "owner"},
    ("POST", "/v1/tree/{plural}"): {"path": "{org}/sneaky"},
    ("PATCH", "/v1/envs/{org}/{project}/{app}/{env}/config"): {"set": {"GREETING": "x"}},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/secrets"): {"name": "db2",
                                                              "values": {"K": "v"}},
    ("PATCH", "/v1/envs/{org}/{project}/{app}/{env}/secrets/{name}"): {"values": {"K": "v"}},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/rollback"): {},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/scale"): {"workload": "web", "count": 3},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/volumes"): {"name": "v", "size": "1G"},
    ("PATCH", "/v1/envs/{org}/{project}/{app}/{env}/volumes/{name}"): {"size": "2G"},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/endpoints"): {
        "name": "e", "workload": "web", "internal_port": 8080, "external_ports": [8081]},
    ("POST", "/v1/orgs/{org}/invites"): {"name": "intruder", "role": "owner"},
    ("PATCH", "/v1/orgs/{org}/members/{name}"): {"role": "viewer"},
    ("POST", "/v1/hosts/join-tokens"): {},
}


def _routes(d: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, websockets as method WS, paths as declared."""
    out = []
    for route in d.daemon.app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        methods = getattr(route, "methods", None) or {"WS"}
        out += [(m, path) for m in sorted(methods) if m not in ("OPTIONS", "HEAD")]
    return out


def _org_world(d: Any, org: str) -> dict[str, Any]:
    target = f"{org}/shop/hello/prod"
    d.make_env(target)
    satisfy_gate(d, target)
    status, body = d.api("PATCH", f"/v1/envs/{target}/config",
                         {"set": {"MARKER": f"config-value-of-{org}"}})
    assert status == 200, body
    status, body = d.api("POST", f"/v1/envs/{target}/secrets",
                         {"name": "extra", "values": {f"KEY_OF_{org.upper()}": "v"}})
    assert status == 201, body
    # MARKER is declared: a deploy refuses env keys the manifest does not name.
    manifest = MANIFEST.read_text().replace('required = ["GREETING"]',
                                            'required = ["GREETING"]\noptional = ["MARKER"]')
    status, body = deploy(d, target, manifest)
    assert status in (200, 201, 202), body
    release = wait_converged(d, target)
    status, tok = d.api("POST", "/v1/tokens", {"org": org, "role": "viewer"})
    assert status == 201, tok
    status, st = d.api("GET", f"/v1/envs/{target}/status")
    instances = [i["id"] for w in st.get("workloads", []) for i in w.get("instances", [])]
    status, orgs = d.api("GET", "/v1/tree/orgs")
    org_id = next(o["id"] for o in orgs if o["name"] == org)
    users = {}
    for role in ROLES:
        name = f"{role}-of-{org}"
        make_user(d, org, name, role)
        users[role] = (name, user_token(d, name))
    return {
        "org": org, "target": target, "users": users, "token_id": tok["id"],
        "manifest": manifest,
        "release": str(release.get("id") or release.get("release_id") or "1"),
        "instance": instances[0] if instances else "none",
        # what nobody outside the org may ever read, and never sends
        "markers": [org_id, f"config-value-of-{org}", f"KEY_OF_{org.upper()}",
                    f"viewer-of-{org}", f"owner-of-{org}"],
    }


def _name(template: str, w: dict[str, Any]) -> str:
    """What ``{name}`` names in this route: something that exists in ``w``'s org where it can,
    so a refusal is for the caller, not for a missing thing."""
    for part, name in (("/secrets/", "extra"), ("/members/", f"deployer-of-{w['org']}"),
                       ("/workloads/", "web"), ("/volumes/", "data"),
                       ("/endpoints/", "site")):
        if part in template:
            return name
    return "none"


def _fill(template: str, w: dict[str, Any], plural: str = "projects") -> str:
    return (template.replace("{org}", w["org"]).replace("{project}", "shop")
            .replace("{app}", "hello").replace("{env}", "prod")
            .replace("{token_id}", w["token_id"]).replace("{plural}", plural)
            .replace("{path}", f"{w['org']}/shop").replace("{name}", _name(template, w))
            .replace("{release}", w["release"]).replace("{instance}", w["instance"])
            .replace("{snapshot}", "1").replace("{host}", "nohost")
            .replace("{action}", "drain").replace("{session_id}", "none"))


def _body(method: str, path: str, w: dict[str, Any]) -> Any:
    if path.endswith("/deploy"):  # a manifest that would deploy: refused for the caller only
        return {"manifest": w["manifest"]}
    body = BODIES.get((method, path))
    if body is None:
        return {} if method in ("POST", "PATCH", "PUT") else None
    return json.loads(_fill(json.dumps(body), w))


def _call(d: Any, method: str, path: str, body: Any, token: str) -> tuple[int, str]:
    """Status and text of one call (pages answer HTML, the API JSON)."""
    content = json.dumps(body).encode() if body is not None else None
    r = d.request(method, path, content=content, token=token)
    return r.status_code, r.text


def test_every_route_of_the_app_is_in_the_matrix(d: Any) -> None:
    served = set(_routes(d))
    assert served - ROUTES.keys() == set(), "routes nobody said who may call: add them to ROUTES"
    assert ROUTES.keys() - served == set(), "ROUTES names routes the app no longer serves"


def test_no_route_leaks_across_orgs_or_lets_a_role_do_more(d: Any) -> None:
    from daemon_support import unique

    a, b = (_org_world(d, unique("org")) for _ in range(2))
    routes = [r for r in _routes(d) if r[0] != "WS"]  # websockets: the tests below
    assert {ROUTES[r] for r in routes} >= {"public", "page", "unscoped", "host", *SCOPED}
    outcomes: Counter[str] = Counter()
    leaks: list[str] = []
    for method, template in routes:
        kind = ROUTES[(method, template)]
        for mine, other in ((a, b), (b, a)):
            for role in ROLES:
                name, token = mine["users"][role]
                # 1. the other org's resources (and for unscoped, public and page routes,
                # whatever they answer): never a 2xx where the path names the other org, never
                # a word of the other org's data
                path = _fill(template, other)
                status, text = _call(d, method, path, _body(method, template, other), token)
                if 200 <= status < 300 and kind in (*SCOPED, "host", "immutable"):
                    leaks.append(f"{name}: {method} {path} -> {status}")
                if kind in SCOPED and status != 404:
                    leaks.append(f"{name}: {method} {path} -> {status}, not 404")
                leaks += [f"{name}: {method} {path} shows {m}" for m in other["markers"]
                          if m in text]
                if kind == "page":  # a bearer token signs nobody in to a page
                    leaks += [f"{name}: {method} {path} shows {m}" for m in mine["markers"]
                              if m in text]
                outcomes[f"other org, {kind}: {status}"] += 1
                # 2. their own org, above their role: refused for the role (403), not for
                # a missing thing; host routes refuse every member
                if kind == "host" or (kind in SCOPED and RANK[role] < RANK[kind]):
                    path = _fill(template, mine)
                    status, text = _call(d, method, path, _body(method, template, mine),
                                         token)
                    expected = (HOST_REFUSALS if kind == "host"
                                else ABOVE_THE_ROLE.get((method, template), (403,)))
                    if status not in expected:
                        leaks.append(f"{name}: {method} {path} -> {status} (above the role)")
                    outcomes[f"own org, above the role: {status}"] += 1
                # 3. their own org, reads their role allows: not refused
                elif kind in SCOPED and method == "GET":
                    path = _fill(template, mine)
                    status, text = _call(d, method, path, None, token)
                    if status in (401, 403):
                        leaks.append(f"{name}: {method} {path} -> {status} (refused a member)")
                    outcomes[f"own org, allowed read: {status}"] += 1
    print("\n".join(f"{k:40} {v}" for k, v in sorted(outcomes.items())))
    assert leaks == [], "\n".join(leaks)
    # the matrix was not vacuous: refusals were for the right reasons
    assert sum(v for k, v in outcomes.items() if k.startswith("other org") and
               k.endswith(": 404")) > 200
    assert outcomes["own org, above the role: 403"] > 50


def _ws(d: Any, path: str, token: str) -> str:
    """What a websocket of ``path`` answers a start with this token: the error code, or
    "closed" when it is refused before any message."""
    try:
        with d.client.websocket_connect(path, headers={"Authorization": f"Bearer {token}"}) as ws:
            ws.send_text(json.dumps({"type": "start", "workload": "web", "cmd": ["true"]}))
            message = json.loads(ws.receive_text())
    except Exception as e:  # the test client raises when the server closes or refuses
        return f"closed ({type(e).__name__})"
    assert message["type"] == "error", message
    return str(message["error"]["code"])


def test_websockets_follow_the_same_rules(d: Any) -> None:
    from daemon_support import unique

    a, b = (_org_world(d, unique("org")) for _ in range(2))
    seen = {}
    for role in ROLES:
        _name, token = a["users"][role]
        seen[f"{role} of another org"] = _ws(d, f"/v1/envs/{b['target']}/exec", token)
        _name, token = b["users"][role]
        if RANK[role] < RANK[ROUTES[("WS", E + "/exec")]]:
            seen[f"{role} of the org"] = _ws(d, f"/v1/envs/{b['target']}/exec", token)
        seen[f"{role} at the peer exec"] = _ws(d, "/v1/peer/exec", token)[:6]
        seen[f"{role} at the console"] = _ws(d, "/console/ws", token)[:6]
    assert seen == {
        **{f"{role} of another org": "not_found" for role in ROLES},
        "viewer of the org": "forbidden",
        **{f"{role} at the peer exec": "closed" for role in ROLES},
        **{f"{role} at the console": "closed" for role in ROLES},
    }
