"""People on a cluster: a user made on one host signs in on another, and what an owner changes
on one host (a role, a removal, a revoked token) holds on every host.

Two real platd hosts with their Serf agents on loopback addresses (``loopback.LoopbackLab``,
fake runtime: nothing here runs a container). The user is made through a real invite and the
real invite page on h0; her token comes from the real device flow on h1 (so her password hash
and membership reached h1); the owner's changes are made on one host and checked through the
other host's API, which answers from its own replicated rows. The same rows between two stores
in one process are tested in tests/unit/test_people_replicate.py; this is the running cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.loopback import LoopbackLab
from tests.cluster.platd_cluster import Host, make_cluster, wait_for
from tests.daemon_support import make_env
from tests.people.people_support import FAST, make_user, user_token


class On:
    """A host as the people helpers address a daemon: its URL and its API (admin token by
    default)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.url = host.api

    def api(self, method: str, path: str, body: Any = None,
            token: str | None = None) -> tuple[int, Any]:
        return self.host.request(method, path, body, token=token)


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[tuple[On, On]]:
    if shutil.which("serf") is None:
        pytest.skip("serf is not installed (scripts/setup installs the Debian package serf)")
    lab = LoopbackLab(2)
    hosts: list[Host] = []
    try:
        # Hosts share the machine: each its own Serf RPC address.
        hosts = make_cluster(lab, tmp_path,
                             settings=lambda node: f'{FAST}serf_rpc = "{node.ip}:7373"\n')
        yield On(hosts[0]), On(hosts[1])
    finally:
        lab.destroy()
        for host in hosts:
            if host.proc is not None:
                host.proc.wait(timeout=10)


def _answers(on: On, method: str, path: str, body: Any = None,
             token: str | None = None) -> int:
    status, _ = on.api(method, path, body, token=token)
    return status


def test_a_user_made_on_one_host_signs_in_on_another_and_owner_changes_hold_everywhere(
    two_hosts: tuple[On, On]
) -> None:
    h0, h1 = two_hosts
    target = make_env(h0)
    org = target.split("/")[0]
    make_user(h0, org, "ann", "deployer")

    # Her membership reaches h1, and her password with it: she signs in there.
    wait_for(lambda: any(m["name"] == "ann" for m in h1.api("GET", f"/v1/orgs/{org}/members")[1]
                         .get("members", [])),
             30, "h1 lists ann as a member")
    token = user_token(h1, "ann")

    # The token h1 minted is known to h0.
    wait_for(lambda: _answers(h0, "GET", "/v1/whoami", token=token) == 200, 30,
             "h0 knows the token h1 minted")
    status, me = h0.api("GET", "/v1/whoami", token=token)
    assert me["user"] == "ann"
    assert [(o["org"], o["role"]) for o in me["orgs"]] == [(org, "deployer")]

    # A role lowered on h0 is enforced by h1: a viewer may not scale.
    scale = ("POST", f"/v1/envs/{target}/scale", {"workload": "web", "count": 1})
    status, body = h0.api("PATCH", f"/v1/orgs/{org}/members/ann", {"role": "viewer"})
    assert status == 200, body
    wait_for(lambda: _answers(h1, *scale, token=token) == 403, 30,
             "h1 refuses ann's scale once she is a viewer")
    status, me = h1.api("GET", "/v1/whoami", token=token)
    assert [(o["org"], o["role"]) for o in me["orgs"]] == [(org, "viewer")]

    # A token revoked on h1 is refused by h0.
    status, listed = h1.api("GET", "/v1/tokens", token=token)
    assert status == 200, listed
    (mine,) = [t for t in listed if t["user"] == "ann"]
    status, body = h1.api("DELETE", f"/v1/tokens/{mine['id']}", token=token)
    assert status in (200, 204), body
    wait_for(lambda: _answers(h0, "GET", "/v1/whoami", token=token) == 401, 30,
             "h0 refuses the token revoked on h1")

    # A member removed on h1 is no member on h0.
    status, body = h1.api("DELETE", f"/v1/orgs/{org}/members/ann")
    assert status in (200, 204), body
    wait_for(lambda: all(m["name"] != "ann"
                         for m in h0.api("GET", f"/v1/orgs/{org}/members")[1]["members"]),
             30, "h0 no longer lists ann")
