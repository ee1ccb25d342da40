"""A cluster on the real Docker engine: three platd share the machine's engine, as the cluster
issue says hosts of one machine would, each host's containers carrying its host id.

Hosts live on loopback addresses of the machine's own namespace (``loopback.LoopbackLab``):
from a network namespace platd could not reach its containers' bridge addresses. What a user
relies on, checked against the engine and not only against status rows: instances spread
over the hosts, each container labelled with the host that runs it; exec and logs through one
host reach an instance on another; a host whose platd and Serf die has its slots run elsewhere
as real containers after the grace period, and, back, leaves each slot running exactly once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.loopback import LoopbackLab
from tests.cluster.platd_cluster import Host, HostNode, alive_count, make_cluster, wait_for
from tests.cluster.test_placement_cluster import (
    TARGET,
    capacities_known,
    deploy,
    exec_through,
    site,
    status,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GRACE = 4
MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 3
[workloads.site.health]
tcp = 8080
"""
HOST_LABEL = "dev.plat.host"  # platd/runtime/base.py LABELS


def settings(node: HostNode) -> str:
    """Per host: its own Serf RPC and ingress address (several hosts share one machine)."""
    return (f"host_grace_seconds = {GRACE}\nresync_seconds = 2\n"
            f'serf_rpc = "{node.ip}:7373"\ningress_ipv4 = ["{node.ip}"]\ningress_ipv6 = []\n')


def _docker(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True).stdout


def containers(host_ids: list[str], *, running: bool = True) -> list[dict[str, str]]:
    """The engine's plat containers of these hosts: instance, host, env and workload labels."""
    found = []
    for host_id in host_ids:
        ids = _docker("ps", "-q", *([] if running else ["-a"]),
                      "--filter", f"label={HOST_LABEL}={host_id}").split()
        for cid in ids:
            inspected = _docker("inspect", "-f", "{{json .Config.Labels}}", cid).strip()
            if not inspected:
                continue  # removed between the listing and the inspect: it is not there
            labels = json.loads(inspected)
            found.append({"id": cid, "host": labels.get(HOST_LABEL, ""),
                          "instance": labels.get("dev.plat.instance", ""),
                          "env": labels.get("dev.plat.env", ""),
                          "workload": labels.get("dev.plat.workload", "")})
    return found


def remove_all(hosts: list[Host]) -> None:
    """Every container of these hosts, and their envs' networks (the test made them all)."""
    made = containers([h.host_id for h in hosts if h.host_id], running=False)
    if made:
        subprocess.run(["docker", "rm", "-f", *(c["id"] for c in made)], capture_output=True)
    envs = {c["env"] for c in made if c["env"]}
    for host in hosts:  # envs whose containers never got made may still have a network
        with contextlib.suppress(sqlite3.Error), contextlib.closing(
                sqlite3.connect(f"file:{host.data / 'state.db'}?mode=ro", uri=True)) as db:
            envs.update(row[0] for row in db.execute("SELECT id FROM envs"))
    for env in envs:
        if not _docker("ps", "-aq", "--filter", f"label=dev.plat.env={env}").split():
            # By id: racing daemons may have left several networks of the env's name.
            nets = _docker("network", "ls", "-q", "--filter", f"label=dev.plat.env={env}")
            for net in nets.split():
                subprocess.run(["docker", "network", "rm", net], capture_output=True)


@pytest.fixture
def docker_cluster(docker_services: None, tmp_path: Path) -> Iterator[Callable[[int], list[Host]]]:
    """``docker_cluster(3)``: hosts with ``--runtime docker``; afterwards, even on failure,
    their processes are killed and every container and network they made is removed."""
    if shutil.which("serf") is None:
        pytest.skip("serf is not installed (scripts/setup installs the Debian package serf)")
    labs: list[LoopbackLab] = []
    made: list[Host] = []

    def make(size: int) -> list[Host]:
        lab = LoopbackLab(size)
        labs.append(lab)
        hosts = make_cluster(lab, tmp_path, settings=settings, runtime="docker")
        made.extend(hosts)
        return hosts

    try:
        yield make
    finally:
        for lab in labs:
            lab.destroy()
        for host in made:
            if host.proc is not None:
                host.proc.wait(timeout=10)
        remove_all(made)


def healthy(host: Host) -> Counter[str]:
    return Counter(i["host"] for i in site(status(host))["instances"]
                   if i["state"] == "running" and i["health"] == "healthy")


def test_three_hosts_share_one_engine_and_a_lost_host_never_leaves_a_slot_running_twice(
    docker_cluster: Callable[[int], list[Host]]
) -> None:
    began = time.monotonic()
    hosts = docker_cluster(3)
    h0 = hosts[0]
    ids = [h.host_id for h in hosts]
    names = {h.host_id: f"h{h.node.index}" for h in hosts}
    capacities_known(hosts)
    deploy(hosts[1], MANIFEST)
    wait_for(lambda: all(healthy(h) == Counter(ids) for h in hosts), 60,
             "every host sees 3 healthy instances, one per host")

    # The engine agrees: each host runs, under its own host id, exactly the instances its
    # status rows give it.
    rows = {i["id"]: i["host"] for i in site(status(h0))["instances"]}
    real = containers(ids)
    assert {c["instance"]: c["host"] for c in real} == rows
    assert len(real) == 3

    # exec through h0 reaches an instance on another host; what it writes to the container's
    # stdout comes back through h0's logs, with the host that ran it.
    remote = next(i for i, host in rows.items() if host != h0.host_id)
    marker = uuid.uuid4().hex
    banner, output, code = exec_through(
        h0, remote, ["sh", "-c", f"echo {marker} > /proc/1/fd/1; echo hi; exit 3"])
    assert (banner["instance"]["host_name"], output, code) == (names[rows[remote]], b"hi\n", 3)

    def marker_host() -> str | None:
        page = h0.ok("GET", f"/v1/envs/{TARGET}/logs?workload=site&limit=200")
        # The exec audit lines (source "system") name the marker too: only the app's own.
        return next((line["host"] for line in page["lines"]
                     if line["source"] == "app" and marker in line["message"]), None)

    wait_for(lambda: marker_host() == names[rows[remote]], 20, "the marker in h0's logs")

    # kill -9 of h2's platd and Serf. Its container is the engine's: it keeps running (no
    # platd is left to stop it; on a real host lost with its engine it would be gone).
    victim = hosts[2]
    (orphan,) = [c["instance"] for c in real if c["host"] == victim.host_id]
    victim.kill9()
    killed_at = time.monotonic()
    wait_for(lambda: sum(n for h, n in healthy(h0).items() if h != victim.host_id) == 3, 60,
             "3 healthy instances on h0 and h1")
    moved_in = time.monotonic() - killed_at
    alive_hosts = [h0.host_id, hosts[1].host_id]
    replacements = containers(alive_hosts)
    assert len(replacements) == 3
    assert orphan not in {c["instance"] for c in replacements}
    assert [c["instance"] for c in containers([victim.host_id])] == [orphan]

    # Back, the host removes its container of the slot that moved and starts nothing: each
    # slot runs in exactly one container, counted on the engine.
    victim.start()
    seen_on_victim: set[str] = set()

    def stale_removed() -> bool:
        mine = containers([victim.host_id], running=False)
        seen_on_victim.update(c["instance"] for c in mine)
        assert len(containers(alive_hosts)) == 3
        return not mine

    wait_for(stale_removed, 40, "h2's stale container removed")
    assert seen_on_victim <= {orphan}, "the returned host started a container"
    wait_for(lambda: alive_count(h0) == 3, 30, "h2 is back")
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        now = containers(ids)
        assert len({c["instance"] for c in now}) == len(now) == 3, now
        assert all(c["host"] in alive_hosts for c in now), now
        time.sleep(0.5)
    wait_for(lambda: healthy(victim) == Counter(c["host"] for c in containers(ids)), 20,
             "h2 sees the 3 healthy instances where the engine runs them")
    print(f"slots moved {moved_in:.1f} s after kill -9 (grace {GRACE} s); "
          f"whole test {time.monotonic() - began:.0f} s")
