"""What the cluster line costs `plat status`: the extra `GET /v1/cluster` on its connection.

`plat status` asks for the env's status, then (same kept-alive connection, plat's own client)
for `GET /v1/cluster`, and for `GET /v1/hosts` only when some host is not alive (to name it).
Measured in one process, request by request, alternating, so both see the same machine:

1. a daemon on a host of its own (loopback): the cluster request answers `{cluster: null}`;
2. a member of a real 3-host cluster (platd + Serf in network namespaces; needs root): the
   cluster request asks Serf for the members and the replicator for its lag. Skipped, with the
   reason, where namespaces cannot be made.

Reference: `GET .../status` of an env, the request `plat status` always made. The start-up of
the whole command is bench/cli_startup.py's.
Run: .venv/bin/python bench/status_cluster.py [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import median_of, parse_args, print_table, running_daemon

from tests.cluster.netns import Lab, Node, netns_problem, sweep_stale
from tests.cluster.platd_cluster import Host, make_cluster
from tui.client import Client

TARGET = "bench/shop/hello/prod"


class NamespaceClient(Client):
    """plat's client, its connection opened inside a lab node (the same client otherwise)."""

    def __init__(self, node: Node, api: str, token: str, ca_pem: str | None = None) -> None:
        super().__init__(api, token, ca=ca_pem)  # a lab address is not loopback: https
        self._node = node

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn = super()._connection(timeout)
        node = self._node
        conn._create_connection = (  # type: ignore[attr-defined]
            lambda address, *args: node.open_socket(address[0], address[1], timeout))
        return conn


def alternate(client: Client, paths: list[str], rounds: int) -> list[float]:
    """The median seconds of each of ``paths``, asked in turn ``rounds`` times (after a
    warm-up round), all on ``client``'s one connection."""
    for path in paths:
        client.get(path)
    samples: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for i, path in enumerate(paths):
            start = time.perf_counter()
            client.get(path)
            samples[i].append(time.perf_counter() - start)
    return [median_of(s) for s in samples]


def paired(make: Any, status_path: str, rounds: int) -> tuple[float, float]:
    """Median seconds of status + cluster as `plat status` could ask them: one after the
    other on one connection, or at once (the cluster request on a second connection, from a
    thread), each round with new connections as a new `plat` process would have."""
    def one_after_other() -> None:
        client = make()
        client.get(status_path)
        client.get("/v1/cluster")
        client.close()

    def at_once() -> None:
        client, other = make(), make()
        thread = threading.Thread(target=other.get, args=("/v1/cluster",))
        thread.start()
        client.get(status_path)
        thread.join()
        client.close()
        other.close()

    one_after_other()
    at_once()
    seq: list[float] = []
    par: list[float] = []
    for _ in range(rounds):
        for fn, out in ((one_after_other, seq), (at_once, par)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return median_of(seq), median_of(par)


def make_env(api: Any) -> None:
    for depth, kind in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        api("POST", f"/v1/tree/{kind}", {"path": "/".join(TARGET.split("/")[:depth])})


def on_its_own(rounds: int) -> list[tuple[str, float, float | None, str]]:
    with running_daemon("fake") as (d, _):
        d.make_env(TARGET)
        client = Client(d.url, d.token)
        path = client.env_path(TARGET, "/status")
        status, cluster = alternate(client, [path, "/v1/cluster"], rounds)
        client.close()
        seq, par = paired(lambda: Client(d.url, d.token), path, rounds)
    return [("GET env status (reference)", status, None, ""),
            ("GET /v1/cluster, a host on its own", cluster, status, "<= 2 ms more"),
            ("both, one after the other (reference)", seq, None, ""),
            ("both at once, 2 connections", par, seq, "")]


def member(rounds: int) -> list[tuple[str, float, float | None, str]]:
    problem = netns_problem()
    if problem is not None or shutil.which("serf") is None:
        print(f"\n(cluster member skipped: {problem or 'serf is not installed'})")
        return []
    sweep_stale()
    root = Path(tempfile.mkdtemp(prefix="plat-bench-"))
    lab = Lab(3)
    hosts: list[Host] = []
    try:
        hosts = make_cluster(lab, root)
        h = hosts[1]
        make_env(lambda method, path, body: h.ok(method, path, body))
        client = NamespaceClient(h.node, h.api, h.token, h.ca.read_text())
        path = client.env_path(TARGET, "/status")
        status, cluster, listing = alternate(client, [path, "/v1/cluster", "/v1/hosts"], rounds)
        client.close()
        pem = h.ca.read_text()
        seq, par = paired(lambda: NamespaceClient(h.node, h.api, h.token, pem), path, rounds)
    finally:
        for host in hosts:
            host.kill9()
        lab.destroy()
        shutil.rmtree(root, ignore_errors=True)
    return [("GET env status, cluster member (reference)", status, None, ""),
            ("GET /v1/cluster, member of 3", cluster, status, "<= 2 ms more"),
            ("GET /v1/hosts, member of 3 (a host down)", listing, status, ""),
            ("both, member, one after the other (reference)", seq, None, ""),
            ("both at once, member, 2 connections", par, seq, "")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parse_args(parser, quick={"rounds": 5})
    rows = on_its_own(args.rounds) + member(args.rounds)
    print_table(f"plat status's requests, {args.rounds} rounds each, alternating "
                "(median per request)", rows)


if __name__ == "__main__":
    main()
