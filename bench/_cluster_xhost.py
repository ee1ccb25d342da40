"""Cross-host flows on a real cluster (section 6 of bench/cluster.py; or alone:
``.venv/bin/python bench/_cluster_xhost.py``): 3 platd + Serf + HAProxy in namespaces, the fake
runtime's instances played by real TCP servers on their addresses.

1. An endpoint on h0, a client on h2: connect + first answer from an instance on another host
   (through its host's hop, PROXY v2 both hops); reference: from the instance on h0 itself,
   same endpoint, same connections (HAProxy round-robins over both), same run.
2. A ``plat logs --follow`` step with nothing new (``wait=0``) over 3 hosts (``cursors``);
   reference: the same step on this host's lines only (``after``), same env, same run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import make_cluster, wait_for
from tests.cluster.test_endpoints_cluster import (
    MANIFEST,
    ask,
    instances,
    play,
    settings,
)
from tests.cluster.test_placement_cluster import (
    TARGET,
    capacities_known,
    deploy,
    healthy_on,
)

Row = tuple[str, str, str, str, str]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def measure(connections: int, steps: int, say: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-xhost-") as tmp, Lab(3) as lab:
        say("cross-host: 3 hosts with haproxy...")
        hosts = make_cluster(lab, Path(tmp), settings=settings)
        h0, _, h2 = hosts
        try:
            capacities_known(hosts)
            deploy(h0, MANIFEST)
            wait_for(lambda: len(healthy_on(h0)) == 3, 30, "site on each host")
            for host in hosts:
                for instance in instances(host):
                    play(host, instance)
            wait_for(lambda: ask(h2.node, h0.node.ip)[0] != "", 30, "the endpoint answers")
            say(f"cross-host: {connections} connections through h0's endpoint...")
            by_host: dict[str, list[float]] = {}
            for _ in range(connections):
                started = time.perf_counter()
                answer, _me = ask(h2.node, h0.node.ip)
                took = time.perf_counter() - started
                by_host.setdefault(answer.split(" ")[0], []).append(took)
            local = by_host.get("h0", [])
            remote = by_host.get("h1", []) + by_host.get("h2", [])
            if local and remote:
                m_r, m_l = statistics.median(remote), statistics.median(local)
                rows.append((f"connect + first answer, instance on another host (n={len(remote)})",
                             _ms(m_r), _ms(m_l), f"{m_r / m_l:.1f}x", ""))
                rows.append(("  p90", _ms(statistics.quantiles(remote, n=10)[-1]),
                             _ms(statistics.quantiles(local, n=10)[-1]), "", ""))
            say(f"cross-host: {steps} follow steps...")
            page = h0.ok("GET", f"/v1/envs/{TARGET}/logs?limit=10")
            cursors, cursor = page["cursors"], page["cursor"]

            def step(query: dict[str, Any]) -> float:
                started = time.perf_counter()
                h0.ok("GET", f"/v1/envs/{TARGET}/logs?" + urlencode({**query, "wait": 0}))
                return time.perf_counter() - started

            cluster = [step({"cursors": cursors}) for _ in range(steps)]
            alone = [step({"after": cursor}) for _ in range(steps)]
            m_c, m_a = statistics.median(cluster), statistics.median(alone)
            rows.append((f"logs --follow step, nothing new, 3 hosts (median of {steps})",
                         _ms(m_c), _ms(m_a), f"{m_c / m_a:.1f}x", ""))
        finally:
            for h in hosts:
                h.stop()
    return rows


if __name__ == "__main__":
    import os

    for line in [f"{a:<62} {b:>11} {c:>11} {d:>6}" for a, b, c, d, _ in
                 measure(int(os.environ.get("CONNECTIONS", "300")),
                         int(os.environ.get("STEPS", "50")),
                         lambda s: print(s, file=sys.stderr))]:
        print(line)
    print(f"/proc/loadavg: {Path('/proc/loadavg').read_text().strip()}")
