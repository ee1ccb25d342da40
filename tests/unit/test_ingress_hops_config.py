"""Which backends an endpoint gets on a cluster, and what a host's hop routes (rows -> config).

Host A serves the endpoint; B runs an instance of its workload; C runs one too but gossip says
it is not alive. A real state database (SQLite), rows written as replication would leave them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from platd.ingress.config import build_config
from platd.ingress.model import Backend
from platd.store.db import Store
from platd.store.models import App, EndpointRow, Env, Host, Instance, Org, Project
from tests.unit.store_support import make_store

ALIVE = ["hA", "hB"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path, "hA")
    with s.write() as session:
        session.add(Org(id="o", name="o", created_at=1))
        session.add(Project(id="p", org_id="o", name="p", created_at=1))
        session.add(App(id="a", project_id="p", name="a", created_at=1))
        session.add(Env(id="e", app_id="a", name="prod", created_at=1))
        for n, host in enumerate(("hA", "hB", "hC"), start=1):
            session.add(Host(id=host, name=host, api=f"http://10.0.0.{n}:7400",
                             gossip=f"10.0.0.{n}:7946", joined_at=1))
        session.add(EndpointRow(id="ep", env_id="e", name="public", source="cli",
                                workload="web", internal_port=8080,
                                external_ports_json="[443]", ipv6=False, ipv4=True,
                                ipv4_address="203.0.113.7", proxy_protocol="v2",
                                host_id="hA", created_at=1, created_by="t", updated_at=1))
        for iid, host, health in (("i1", "hA", "healthy"), ("i2", "hB", "healthy"),
                                  ("i3", "hC", "healthy"), ("i4", "hB", "starting")):
            session.add(Instance(id=iid, host_id=host, env_id="e", workload="web",
                                 release_id="r", spec_hash="x", container_id="c",
                                 state="running", health=health, updated_at=1,
                                 ip="172.17.0.2"))
    yield s
    s.close()


def test_the_serving_host_reaches_live_hosts_instances_through_their_hops(store: Store) -> None:
    config = build_config(store, "hA", alive=ALIVE)
    (listener,) = config.listeners
    assert listener.bind == "203.0.113.7:443"
    assert listener.proxy_v2
    # Its own instance on the bridge; B's through B's hop; C (failed) and i4 (starting): none.
    assert listener.backends == (Backend("10.0.0.2", 7401, "i2", hop=True),
                                 Backend("172.17.0.2", 8080, "i1"))
    assert config.hop is None  # nothing served elsewhere has an instance here


def test_the_other_host_routes_the_endpoint_to_its_own_instances(store: Store) -> None:
    config = build_config(store, "hB", alive=ALIVE, hop_port=7999)
    assert config.listeners == ()
    hop = config.hop
    assert hop is not None
    assert (hop.bind, hop.peers) == ("10.0.0.2:7999", ("10.0.0.1",))  # C is not alive
    (route,) = hop.routes
    assert (route.address, route.port, route.proxy_v2) == ("203.0.113.7", 443, True)
    assert route.backends == (Backend("172.17.0.2", 8080, "i2"),)
    # Draining its last serving instance empties the route but keeps it (no reload).
    drained = build_config(store, "hB", frozenset({"i2"}), alive=ALIVE, hop_port=7999)
    assert drained.hop is not None
    assert drained.hop.routes[0].backends == ()


def test_without_a_cluster_view_only_local_instances_serve(store: Store) -> None:
    (listener,) = build_config(store, "hA").listeners
    assert listener.backends == (Backend("172.17.0.2", 8080, "i1"),)
    assert build_config(store, "hB").hop is None
