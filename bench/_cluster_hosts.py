"""The bench's platd hosts (bench/cluster.py): starting them in their namespaces, one after the
other into one cluster, and calling each one's API over a connection kept open.

Sections 1 and 2 poll every host's API many times a second; a new TLS connection per GET would
cost the daemons more than what is measured, hence ``Api``'s one connection per host.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from tests.cluster.netns import Lab, Node
from tests.cluster.platd_cluster import (
    Host,
    NodeConnection,
    alive_count,
    init,
    wait_for,
)


class Api:
    """One host's API over one persistent connection (one thread at a time)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.host.token}",
                   "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self._conn is None:
                # Inside its namespace; https with the cluster's CA beyond loopback.
                self._conn = NodeConnection(self.host.node, 5.0, self.host.ca)
            try:
                self._conn.request(method, path, None if body is None else json.dumps(body),
                                   headers)
                r = self._conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue
            if not 200 <= r.status < 300:
                raise RuntimeError(f"{method} {path} on {self.host.node.name}: {r.status} {raw!r}")
            return json.loads(raw) if raw else None
        raise AssertionError("unreachable")

    def org_names(self) -> set[str]:
        return {o["name"] for o in self.call("GET", "/v1/tree/orgs")}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def start_host(node: Node, data: Path, interval: float, first: Host | None) -> Host:
    """``platd init`` (a new cluster, or a join through ``first``), then ``platd serve``."""
    if first is None:
        made = init(node, data, "--cluster", "bench")
        host = Host(node, data, token=made["token"], host_id=made["host"]["id"])
    else:
        token = first.ok("POST", "/v1/hosts/join-tokens", {})["token"]
        joined = init(node, data, "--join", first.api, "--token", token)
        host = Host(node, data, token=first.token, host_id=joined["host"]["id"])
    settings = data / "platd.toml"
    settings.write_text(f"anti_entropy_seconds = {interval:g}\n" + settings.read_text())
    host.start()
    return host


def grow(lab: Lab, root: Path, hosts: list[Host], size: int, interval: float) -> None:
    while len(hosts) < size:
        node = lab[len(hosts)]
        hosts.append(start_host(node, root / f"h{node.index}", interval,
                                hosts[0] if hosts else None))
    wait_for(lambda: all(alive_count(h) == size for h in hosts), 60,
             f"all {size} hosts see each other alive")
