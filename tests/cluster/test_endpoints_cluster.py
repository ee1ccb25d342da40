"""Endpoints across hosts on a real cluster: platd, Serf and HAProxy per network namespace.

What a user relies on: an endpoint created on one host answers from the env's instances on
every host, and an instance behind a PROXY v2 endpoint sees the client's own address even when
the connection went through another host's hop. The fake runtime's instances live in platd,
so each one is played by a real TCP server on its address inside its host's namespace.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from platd.store.db import Store
from platd.store.models import Instance
from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import Host, HostNode, make_cluster, wait_for
from tests.cluster.test_placement_cluster import capacities_known, deploy, healthy_on

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("haproxy") is None,
                                 reason="haproxy is not installed (scripts/setup installs it)")]

PORT = 18080
MANIFEST = f"""app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 3
[workloads.site.health]
tcp = 8080

[[endpoints]]
name = "public"
workload = "site"
internal_port = 8080
external_ports = [{PORT}]
ipv6 = false
ipv4 = true
proxy_protocol = "v2"
"""

# An instance: answers each connection with its host and the PROXY v2 source it was given.
SERVER = r"""
import socket, sys, threading
from platd.spec import proxy_v2
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(64)
def serve(c):
    with c:
        c.settimeout(5)
        try:
            h = proxy_v2.parse(c.recv(4096))
            c.sendall(f"{sys.argv[2]} {h.src_addr}:{h.src_port}\n".encode())
        except Exception as e:
            c.sendall(f"{sys.argv[2]} no-header {e}\n".encode())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def settings(node: HostNode) -> str:
    return f'ingress_driver = "haproxy"\ningress_ipv4 = ["{node.ip}"]\n'


def instances(host: Host) -> list[Instance]:
    store = Store(host.data / "state.db", host.host_id)
    try:
        with store.read() as session:
            return [i for i in session.exec(select(Instance).where(
                Instance.deleted == False)).all()  # noqa: E712
                if i.host_id == host.host_id and i.state == "running" and i.ip]
    finally:
        store.close()


def play(host: Host, instance: Instance) -> None:
    """A real server on the fake instance's address, inside the host's namespace."""
    host.node.run("ip", "addr", "add", f"{instance.ip}/32", "dev", "lo")
    host.node.popen([sys.executable, "-c", SERVER, str(instance.ip), f"h{host.node.index}"],
                    cwd=str(Path(__file__).resolve().parents[2]))


def ask(client: HostNode, address: str) -> tuple[str, str]:
    """(the answer, the client's own address) for one connection to the endpoint."""
    sock = client.open_socket(address, PORT, 5)
    with sock:
        me = "{}:{}".format(*sock.getsockname()[:2])
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(200)
            if not chunk:
                break
            data += chunk
        return data.decode().strip(), me


def test_an_endpoint_on_one_host_answers_from_instances_on_every_host(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path, settings=settings)
    h0, _, h2 = hosts
    capacities_known(hosts)
    deploy(h0, MANIFEST)  # the endpoint is h0's: it listens on h0's address
    wait_for(lambda: len(healthy_on(h0)) == 3, 30, "site on each of the 3 hosts")
    for host in hosts:
        for instance in instances(host):
            play(host, instance)

    # A client on h2 asks h0's endpoint until every host's instance has answered; every
    # instance, local to h0 or behind a hop, sees that client's own address and port.
    answered: dict[str, str] = {}

    def every_host_answers() -> bool:
        answer, me = ask(h2.node, h0.node.ip)
        name, _, source = answer.partition(" ")
        assert source == me, (answer, me, h0.tail())
        answered[name] = source
        return set(answered) == {"h0", "h1", "h2"}

    took = wait_for(every_host_answers, 30, "an answer from each host's instance")
    print(f"every host's instance answered through h0's endpoint within {took:.1f} s")

    # plat exposed, asked on any host, counts every host's instance as serving the endpoint.
    (row,) = h2.ok("GET", "/v1/orgs/o/exposed")["exposed"]
    assert (row["host"], row["address"], row["port"]) == ("h0", h0.node.ip, PORT)
    assert len(row["instances"]) == 3
    assert row["instances_not_serving"] == []

    # A host that dies leaves the backend sets once gossip says it failed: the endpoint
    # answers from the others, each connection at once (not after a connect timeout).
    hosts[1].kill9()

    def only_live_hosts_answer() -> bool:
        for _ in range(6):
            started = time.monotonic()
            answer, me = ask(h2.node, h0.node.ip)
            if answer.split(" ")[0] not in {"h0", "h2"} or time.monotonic() - started > 1:
                return False
            assert answer.endswith(me)
        return True

    wait_for(only_live_hosts_answer, 40, "answers from the live hosts only, at once")
