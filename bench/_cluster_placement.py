"""Placement on a real cluster (section 5 of bench/cluster.py): platd + Serf in namespaces,
instances in platd's fake runtime (no Docker: what is timed is placement, replication and the
reconcilers, not container starts).

1. Deploy -> 6 instances healthy, over 3 hosts; reference: the same deploy on a cluster of one.
2. kill -9 of a host running instances -> all 6 healthy again on the others, from the kill;
   reference: from the kill until a survivor lists the host failed (the floor is that plus the
   grace period, which is set short here).
3. ``GET .../logs`` (a 200-line history page) over 3 hosts, merged; reference: the same read
   of this host's lines only (``local=true``), same env, same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import Host, init, make_cluster, wait_for

GRACE = 5
MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 6
cpu = 0.1
[workloads.site.health]
tcp = 8080
"""


def _env(host: Host, n: int) -> str:
    path = f"b/p/web/e{n}"
    for kind, p in (("orgs", "b"), ("projects", "b/p"), ("apps", "b/p/web"), ("envs", path)):
        status, _ = host.request("POST", f"/v1/tree/{kind}", {"path": p})
        assert status in (200, 201, 409), (kind, status)
    return path


def _healthy(host: Host, path: str, lost: str = "") -> int:
    s = host.ok("GET", f"/v1/envs/{path}/status")
    return sum(1 for w in s["workloads"] for i in w["instances"]
               if i["state"] == "running" and i["health"] == "healthy" and i["host"] != lost)


def _timed(fn: Callable[[], Any]) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def _known(hosts: list[Host]) -> None:
    wait_for(lambda: all(len(x := h.ok("GET", "/v1/hosts")["hosts"]) == len(hosts)
                         and all(y["cpus"] > 0 for y in x) for h in hosts), 30,
             "every host knows every host's capacity")


def measure(runs: int, reads: int, say: Callable[[str], None]) -> list[tuple[str, ...]]:
    settings = f"host_grace_seconds = {GRACE}\n"
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="bench-place-") as tmp, Lab(4) as lab:
        root = Path(tmp)
        three: list[Host] = []
        one: list[Host] = []
        try:
            say("placement: a cluster of 3 and a cluster of 1...")
            three = make_cluster(lab, root / "three", size=3, settings=settings)
            _known(three)
            solo_lab_node = lab.nodes[3]
            made = init(solo_lab_node, root / "one" / "h3", "--cluster", "solo")
            solo = Host(solo_lab_node, root / "one" / "h3", token=made["token"],
                        host_id=made["host"]["id"], settings=settings)
            solo.start()
            one = [solo]
            _known(one)
            spread, single = [], []
            for r in range(runs):
                spread.append(_timed(lambda r=r: _wait(three[0], r)))
                single.append(_timed(lambda r=r: _wait(solo, r)))
                say(f"placement: deploy {r + 1}: 6 healthy over 3 hosts in {spread[-1]:.2f} s, "
                    f"on one host in {single[-1]:.2f} s")
            m3, m1 = statistics.median(spread), statistics.median(single)
            rows.append(("deploy -> 6 healthy, 3 hosts (vs 1 host)", f"{m3:.2f} s",
                         f"{m1:.2f} s", f"{m3 / m1:.1f}x", f"median of {runs}"))

            path = "b/p/web/e0"
            merged = [_timed(lambda: three[0].ok("GET", f"/v1/envs/{path}/logs?limit=200"))
                      for _ in range(reads)]
            local = [_timed(lambda: three[0].ok(
                "GET", f"/v1/envs/{path}/logs?limit=200&local=true")) for _ in range(reads)]
            page = three[0].ok("GET", f"/v1/envs/{path}/logs?limit=200")
            hosts_in = len({line["host"] for line in page["lines"]})
            mm, ml = statistics.median(merged), statistics.median(local)
            rows.append((f"logs page (200 lines, from {hosts_in} hosts) vs this host's",
                         f"{mm * 1000:.0f} ms", f"{ml * 1000:.0f} ms", f"{mm / ml:.1f}x",
                         f"median of {reads}"))

            placed = three[0].ok("GET", f"/v1/envs/{path}/status")
            counts: dict[str, int] = {}
            for w in placed["workloads"]:
                for i in w["instances"]:
                    counts[i["host"]] = counts.get(i["host"], 0) + 1
            victim = next(h for h in three[1:] if counts.get(h.host_id))
            killed = time.monotonic()
            victim.kill9()
            wait_for(lambda: any(
                h["state"] == "failed" for h in three[0].ok("GET", "/v1/hosts")["hosts"]),
                60, "the kill seen")
            detected = time.monotonic() - killed
            wait_for(lambda: _healthy(three[0], path, victim.host_id) == 6, 90,
                     "6 healthy on the hosts left")
            replaced = time.monotonic() - killed
            say(f"placement: kill -9 of a host with {counts[victim.host_id]} instance(s): "
                f"seen failed in {detected:.1f} s, re-placed and healthy in {replaced:.1f} s")
            rows.append((f"kill -9 -> 6 healthy elsewhere (grace {GRACE} s)",
                         f"{replaced:.1f} s", f"{detected:.1f} s",
                         f"{replaced / detected:.1f}x", "<= grace + 15 s; ref: seen failed"))
        finally:
            for h in three + one:
                h.stop()
    return rows


def _wait(host: Host, n: int) -> None:
    path = _env(host, n)
    host.ok("POST", f"/v1/envs/{path}/deploy", {"manifest": MANIFEST})
    wait_for(lambda: _healthy(host, path) == 6, 60, "6 healthy")
