"""Every route of the API, called by users of every role in two orgs: 0 leaks.

Two orgs, each with a deployed env, config, a secret, an org token and three members (viewer,
deployer, owner), whose tokens come from the real device flow. The routes are read from the
app itself, so a route added later is in the matrix without anyone remembering to add it.

- A member of one org, whatever their role, gets no 2xx from any route that names the other
  org's resources, and no answer of any route holds the other org's data (its ids, config
  values, secret key names, member names).
- Within their own org, a viewer changes nothing and a deployer does nothing only an owner
  may; host-level routes (hosts, peers) refuse every member.
- The exec websocket follows the same rules.
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
# Not bearer-token routes: the public ones, the people pages, and the web console (a browser
# session's cookie, CSRF token and tickets; its commands are these routes, called with the
# person's own token: tests/console).
PUBLIC = re.compile(
    r"^/(v1/(health|openapi\.json|schema.*|device/.*)|device.*|setup|invite|console.*)$")
OWNER_ONLY = {
    ("POST", "/v1/tokens"), ("DELETE", "/v1/tokens/{token_id}"),
    ("POST", "/v1/tree/{plural}"), ("DELETE", "/v1/tree/{plural}/{path}"),
    ("POST", "/v1/orgs/{org}/invites"), ("PATCH", "/v1/orgs/{org}/members/{name}"),
    ("DELETE", "/v1/orgs/{org}/members/{name}"),
}
# Routes that name no org: any member may get an answer, which must hold nothing of another org.
# (Hosts are the cluster's, not an org's: every user may list them; only the admin changes them.)
UNSCOPED = {("GET", "/v1/whoami"), ("GET", "/v1/tokens"), ("GET", "/v1/tree/{plural}"),
            ("GET", "/v1/cluster"), ("GET", "/v1/hosts"), ("GET", "/v1/hosts/{host}")}


def _host_level(method: str, path: str) -> bool:
    return path.startswith("/v1/peer") or (path.startswith("/v1/hosts") and method != "GET")

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/tokens"): {"org": "{org}", "role": "owner"},
    ("POST", "/v1/tree/{plural}"): {"path": "{org}/sneaky"},
    ("PATCH", "/v1/envs/{org}/{project}/{app}/{env}/config"): {"set": {"GREETING": "x"}},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/secrets"): {"name": "db2",
                                                              "values": {"K": "v"}},
    ("PATCH", "/v1/envs/{org}/{project}/{app}/{env}/secrets/{name}"): {"values": {"K": "v"}},
    ("POST", "/v1/envs/{org}/{project}/{app}/{env}/deploy"): {"manifest": "app = 'hello'"},
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
    out = []
    for route in d.daemon.app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if PUBLIC.match(path):
            continue
        for method in sorted(getattr(route, "methods", ()) or ()):
            if method not in ("OPTIONS", "HEAD"):
                out.append((method, path))
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
        "release": str(release.get("id") or release.get("release_id") or "1"),
        "instance": instances[0] if instances else "none",
        # what nobody outside the org may ever read, and never sends
        "markers": [org_id, f"config-value-of-{org}", f"KEY_OF_{org.upper()}",
                    f"viewer-of-{org}", f"owner-of-{org}"],
    }


def _fill(template: str, w: dict[str, Any], plural: str = "projects") -> str:
    return (template.replace("{org}", w["org"]).replace("{project}", "shop")
            .replace("{app}", "hello").replace("{env}", "prod")
            .replace("{token_id}", w["token_id"]).replace("{plural}", plural)
            .replace("{path}", f"{w['org']}/shop").replace("{name}", f"deployer-of-{w['org']}")
            .replace("{release}", w["release"]).replace("{instance}", w["instance"])
            .replace("{snapshot}", "1").replace("{host}", "nohost"))


def _body(method: str, path: str, w: dict[str, Any]) -> Any:
    body = BODIES.get((method, path))
    if body is None:
        return {} if method in ("POST", "PATCH", "PUT") else None
    return json.loads(_fill(json.dumps(body), w))


def test_no_route_leaks_across_orgs_or_lets_a_role_do_more(d: Any) -> None:
    from daemon_support import unique

    a, b = (_org_world(d, unique("org")) for _ in range(2))
    routes = _routes(d)
    assert len(routes) >= 40, routes  # the matrix really covers the API
    outcomes: Counter[str] = Counter()
    leaks: list[str] = []
    for method, template in routes:
        for mine, other in ((a, b), (b, a)):
            for role in ROLES:
                name, token = mine["users"][role]
                # 1. the other org's resources
                path = _fill(template, other)
                status, reply = d.api(method, path, _body(method, template, other), token=token)
                text = json.dumps(reply)
                unscoped = (method, template) in UNSCOPED
                if 200 <= status < 300 and not unscoped:
                    leaks.append(f"{name}: {method} {path} -> {status}")
                leaks += [f"{name}: {method} {path} shows {m}" for m in other["markers"]
                          if m in text]
                outcomes[f"other org: {status}"] += 1
                # 2. their own org, above their role
                needs_owner = (method, template) in OWNER_ONLY
                if (role == "viewer" and method != "GET" and not unscoped) or (
                        role == "deployer" and needs_owner) or _host_level(method, template):
                    path = _fill(template, mine)
                    status, reply = d.api(method, path, _body(method, template, mine),
                                          token=token)
                    if 200 <= status < 300:
                        leaks.append(f"{name}: {method} {path} -> {status} (above the role)")
                    outcomes[f"own org, above the role: {status}"] += 1
    print("\n".join(f"{k:32} {v}" for k, v in sorted(outcomes.items())))
    assert leaks == []
    # the matrix was not vacuous: refusals were for the right reasons
    assert outcomes["other org: 404"] > 100
    assert outcomes["own org, above the role: 403"] > 20


def test_exec_follows_the_same_rules(d: Any) -> None:
    from daemon_support import unique

    a, b = (_org_world(d, unique("org")) for _ in range(2))
    seen = {}
    for who, w, target in (("other", a, b["target"]), ("viewer", b, b["target"])):
        role = "owner" if who == "other" else "viewer"
        _name, token = w["users"][role]
        with d.client.websocket_connect(f"/v1/envs/{target}/exec",
                                        headers={"Authorization": f"Bearer {token}"}) as ws:
            ws.send_text(json.dumps({"type": "start", "workload": "web", "cmd": ["true"]}))
            message = json.loads(ws.receive_text())
        assert message["type"] == "error", message
        seen[who] = message["error"]["code"]
        if who == "other":
            for marker in b["markers"]:
                assert marker not in json.dumps(message)
    assert seen == {"other": "not_found", "viewer": "forbidden"}
