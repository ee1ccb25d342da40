"""Placement on a real cluster: several platd with their Serf agents in network namespaces.

What a user relies on: a deploy's instances spread over the hosts; an instance no host can
take says, per host, why not; when a host dies (platd, Serf and its instances: the fake
runtime's instances live in platd) its instances run elsewhere once the grace period is over,
and the host, back, runs none of them (no duplicates); a drain moves every instance off a host
without the workload's healthy count ever dropping below what it asks for.
"""

from __future__ import annotations

import json
import ssl
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import API_PORT, Host, alive_count, make_cluster, wait_for
from tests.cluster.test_cluster_platd import _actions_by

pytestmark = pytest.mark.slow

TARGET = "o/p/web/prod"
GRACE = 3
MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 4
[workloads.site.health]
tcp = 8080

[workloads.gpu]
image = "127.0.0.1:5000/hello:v1"
count = 1
placement = { labels = { gpu = "yes" } }
[workloads.gpu.health]
tcp = 8080
"""


def deploy(host: Host, manifest: str = MANIFEST) -> None:
    for kind, path in (("orgs", "o"), ("projects", "o/p"), ("apps", "o/p/web"),
                       ("envs", TARGET)):
        host.ok("POST", f"/v1/tree/{kind}", {"path": path})
    host.ok("POST", f"/v1/envs/{TARGET}/deploy", {"manifest": manifest})


def exec_through(host: Host, instance: str, cmd: list[str]) -> tuple[dict[str, Any], bytes, int]:
    """One exec session opened on ``host``: the started message, stdout, the exit code."""
    from websockets.sync.client import connect

    # Beyond loopback: TLS (on loopback addresses, platd serves plain http).
    context = ssl.create_default_context(cafile=str(host.ca)) if host.tls else None
    sock = host.node.open_socket(host.node.ip, 7400, 10)
    ws_scheme = "wss" if host.tls else "ws"
    with connect(f"{ws_scheme}://{host.node.ip}:7400/v1/envs/{TARGET}/exec", sock=sock,
                 ssl=context, server_hostname=host.node.ip if host.tls else None,
                 additional_headers={"Authorization": f"Bearer {host.token}"},
                 open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", "instance": instance, "cmd": cmd}))
        banner: dict[str, Any] = {}
        output = b""
        while True:
            message = ws.recv(timeout=15)
            if isinstance(message, bytes):
                output += message[1:]
                continue
            body = json.loads(message)
            if body["type"] == "started":
                banner = body
            elif body["type"] == "exit":
                return banner, output, int(body["code"])
            elif body["type"] == "error":
                raise AssertionError(body)


def capacities_known(hosts: list[Host]) -> None:
    """Every host's own row (its capacity) has reached every host: placement counts on it."""
    wait_for(lambda: all(len(listed := h.ok("GET", "/v1/hosts")["hosts"]) == len(hosts)
                         and all(x["cpus"] > 0 for x in listed) for h in hosts),
             20, "every host knows every host's capacity")


def status(host: Host) -> dict[str, Any]:
    code, answer = host.request("GET", f"/v1/envs/{TARGET}/status")
    if code == 404:  # the env has not replicated to this host yet
        return {"workloads": []}
    assert code == 200, (code, answer)
    return dict(answer)


def site(s: dict[str, Any]) -> dict[str, Any]:
    # Before the release has replicated to the host asked, there is no workload yet.
    return next((w for w in s["workloads"] if w["name"] == "site"), {"instances": []})


def healthy_on(host: Host) -> Counter[str]:
    """Running, healthy instances of site per host id, as ``host`` sees the cluster."""
    return Counter(i["host"] for i in site(status(host))["instances"]
                   if i["state"] == "running" and i["health"] == "healthy")


def test_instances_spread_explain_themselves_and_move_off_a_lost_host(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path, settings=f"host_grace_seconds = {GRACE}\n")
    h0 = hosts[0]
    ids = {h.host_id for h in hosts}
    capacities_known(hosts)
    deploy(hosts[1])  # any host accepts the change and writes the assignment
    wait_for(lambda: sum(healthy_on(h0).values()) == 4, 30, "4 healthy instances of site")
    spread = healthy_on(h0)
    assert set(spread) <= ids
    assert sorted(spread.values()) == [1, 1, 2]  # spread: no host holds more than its share

    s = status(h0)
    gpu = next(w for w in s["workloads"] if w["name"] == "gpu")
    (slot,) = gpu["placed"]
    assert slot["host_id"] is None
    assert slot["why_not"] == {f"h{i}": "label gpu=yes required, host has no gpu"
                               for i in range(3)}
    assert gpu["pending"] == ["h0: label gpu=yes required, host has no gpu; "
                              "h1: label gpu=yes required, host has no gpu; "
                              "h2: label gpu=yes required, host has no gpu"]
    placed = site(s)["placed"]
    assert all(p["why"].startswith("placed on ") for p in placed)
    described = h0.ok("GET", f"/v1/envs/{TARGET}/instances/{site(s)['instances'][0]['id']}")
    assert described["placement"].startswith("placed on ")

    # Logs read on h0 hold every host's lines, in time order, each with its host.
    names = {h.host_id: f"h{h.node.index}" for h in hosts}

    def log_hosts() -> set[str]:
        page = h0.ok("GET", f"/v1/envs/{TARGET}/logs?workload=site&limit=200")
        ats = [line["ts_ns"] for line in page["lines"]]
        assert ats == sorted(ats)
        assert page["unreachable"] == []
        return {line["host"] for line in page["lines"] if line["source"] == "app"}

    wait_for(lambda: log_hosts() == {names[h] for h in spread}, 20,
             "app lines from every host running site")

    # exec on h0 reaches an instance on another host: relayed, banner naming that host.
    remote = next(i for i in site(status(h0))["instances"] if i["host"] != h0.host_id)
    banner, output, code = exec_through(h0, remote["id"], ["sh", "-c", "exit 3"])
    assert banner["instance"]["id"] == remote["id"]
    assert banner["instance"]["host_name"] == names[remote["host"]]
    assert output == b"sh -c exit 3\n"
    assert code == 3

    # Kill a host holding instances (not h0: the test reads through it).
    victim = next(h for h in hosts[1:] if spread[h.host_id])
    lost = spread[victim.host_id]
    victim.kill9()
    killed_at = time.monotonic()
    wait_for(lambda: sum(n for h, n in healthy_on(h0).items() if h != victim.host_id) == 4,
             60, "4 healthy instances on the hosts left")
    replaced_in = time.monotonic() - killed_at
    events = h0.ok("GET", f"/v1/envs/{TARGET}/events?limit=200")
    moved = [e["message"] for e in events["events"] if e["step"] == "placement"
             and "moved from" in e["message"]]
    name = f"h{victim.node.index}"
    assert len(moved) == lost
    assert all(f"moved from {name} to" in m and "has been failed for" in m for m in moved)
    page = h0.ok("GET", f"/v1/envs/{TARGET}/logs?limit=50")
    assert [u["host"] for u in page["unreachable"]] == [name]  # said, not silently missing
    print(f"re-placed {lost} instance(s) in {replaced_in:.1f} s after kill -9 "
          f"(grace {GRACE} s)")

    # Back, the host runs none of what moved: no duplicate, ever. It starts nothing (its
    # reconciler's actions are events it records), and once its first pass has replaced the
    # rows it wrote before the kill, no view counts an instance on it.
    before = {e["id"] for e in _actions_by(h0, victim.host_id)}
    victim.start()
    wait_for(lambda: alive_count(h0) == 3, 30, "the host is back")
    def settled() -> bool:
        return all(healthy_on(v)[victim.host_id] == 0 and sum(healthy_on(v).values()) == 4
                   for v in (h0, victim))

    wait_for(settled, 40, "the returned host's stale rows replaced")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for viewer in (h0, victim):
            counts = healthy_on(viewer)
            assert counts[victim.host_id] == 0, counts
            assert sum(counts.values()) <= 4, counts
        time.sleep(0.3)
    started = [e for e in _actions_by(victim, victim.host_id) if e["id"] not in before]
    assert started == []


def test_drain_moves_every_instance_without_losing_healthy_capacity(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path)
    h0 = hosts[0]
    capacities_known(hosts)
    deploy(h0, MANIFEST.split("\n[workloads.gpu]")[0])
    wait_for(lambda: sum(healthy_on(h0).values()) == 4, 30, "4 healthy instances")
    spread = healthy_on(h0)
    drained = max(hosts, key=lambda h: (spread[h.host_id], h.node.index))
    answer = h0.ok("POST", f"/v1/hosts/{drained.host_id}/drain", {})
    assert answer["draining"] is True
    assert answer["moving"] == spread[drained.host_id]
    lowest = 4
    deadline = time.monotonic() + 40
    while True:
        # As the drained host sees it: it stops an instance only once it has seen its
        # replacement healthy, so its own view never counts fewer than 4.
        counts = healthy_on(drained)
        lowest = min(lowest, sum(counts.values()))
        if counts[drained.host_id] == 0 and sum(counts.values()) == 4:
            break
        assert time.monotonic() < deadline, f"drain did not finish: {counts}"
        time.sleep(0.1)
    assert lowest >= 4
    listed = {h["name"]: h for h in h0.ok("GET", "/v1/hosts")["hosts"]}
    assert listed[f"h{drained.node.index}"]["draining"] is True
    h0.ok("POST", f"/v1/hosts/{drained.host_id}/uncordon", {})
    listed = {h["name"]: h for h in h0.ok("GET", "/v1/hosts")["hosts"]}
    assert listed[f"h{drained.node.index}"]["cordoned"] is False


def cut_off_until_replaced(
    make_lab: Callable[[int], Lab], tmp_path: Path
) -> tuple[Lab, list[Host], Host]:
    """Three hosts running site's 4 instances; one holding some cut off until it has fenced
    itself and the others run all 4: at no moment do both sides run the same slots. Returns
    the lab, the hosts and the cut-off host (still cut off)."""
    lab = make_lab(3)
    hosts = make_cluster(lab, tmp_path, settings=f"host_grace_seconds = {GRACE * 4}\n")
    h0 = hosts[0]
    capacities_known(hosts)
    deploy(h0, MANIFEST.split("\n[workloads.gpu]")[0])
    wait_for(lambda: sum(healthy_on(h0).values()) == 4, 30, "4 healthy instances")
    spread = healthy_on(h0)
    cut = next(h for h in hosts[1:] if spread[h.host_id])
    rest = [h for h in hosts if h is not cut]
    lab.partition([lab[cut.node.index]], [lab[h.node.index] for h in rest])
    most = 0
    deadline = time.monotonic() + 60
    while True:
        majority = healthy_on(h0)
        on_cut = healthy_on(cut)[cut.host_id]  # what the cut-off host itself runs
        running = sum(n for h, n in majority.items() if h != cut.host_id) + on_cut
        most = max(most, running)
        if on_cut == 0 and running == 4:
            break
        assert time.monotonic() < deadline, (majority, on_cut)
        time.sleep(0.2)
    assert most <= 4, f"{most} instances ran at once for 4 slots"
    events = cut.ok("GET", f"/v1/envs/{TARGET}/events?limit=200")["events"]
    assert any(e["step"] == "fence" and "cut off" in e["message"] for e in events)
    return lab, hosts, cut


def never_more_than_4(viewers: list[Host], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for viewer in viewers:
            counts = healthy_on(viewer)
            assert sum(counts.values()) <= 4, counts
        time.sleep(0.3)


def test_a_cut_off_host_stops_its_instances_before_they_run_elsewhere(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    """A partition, not a crash: the cut-off host is alive and would go on running what the
    others place again. It fences itself (stops them) after half the grace period; the others
    re-place after the whole grace: at no moment do both run the same slots. (A grace of 12 s:
    the half between fencing and re-placing must outlast a loaded machine's slower failure
    detection and reconciler pass on one side.) Healed, the cut-off host starts nothing (what
    it ran moved while it was away), and no view counts its rows from before the partition
    until it has been heard from again."""
    lab, hosts, cut = cut_off_until_replaced(make_lab, tmp_path)
    h0 = hosts[0]
    before = {e["id"] for e in _actions_by(cut, cut.host_id)}
    lab.heal()
    wait_for(lambda: alive_count(h0) == 3 and alive_count(cut) == 3, 30, "healed")
    never_more_than_4([h0, cut], 8)
    # Its reconciler's actions are events it records: a create of an old slot, however brief
    # (between two samples above), is a duplicate all the same.
    started = [e for e in _actions_by(cut, cut.host_id) if e["id"] not in before]
    assert started == []


def test_a_host_seen_again_before_its_rows_can_be_pulled_is_not_counted(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    """Gossip heals first, the hosts' APIs answer each other only later (a firewall letting
    gossip through, or APIs slower to come back than Serf): every host sees the cut-off host
    alive again while none can pull its rows, which still say its instances run, healthy; and
    it sees the others while it cannot pull what they placed meanwhile. No view counts those
    rows until they have been pulled again; the cut-off host stays fenced until a sync has
    brought the re-placement, then runs nothing of what moved."""
    lab, hosts, cut = cut_off_until_replaced(make_lab, tmp_path)
    h0 = hosts[0]
    before = {e["id"] for e in _actions_by(cut, cut.host_id)}
    # Gossip heals; the API port stays cut between the two sides.
    lab.partition([lab[cut.node.index]], [lab[h.node.index] for h in hosts if h is not cut],
                  ports=[API_PORT])
    wait_for(lambda: alive_count(h0) == 3 and alive_count(cut) == 3, 30, "gossip healed")
    for viewer in (h0, cut):
        assert healthy_on(viewer)[cut.host_id] == 0
    never_more_than_4([h0, cut], 4)
    lab.heal()
    # The cut-off host counts the others' instances once it has pulled their rows.
    wait_for(lambda: sum(healthy_on(cut).values()) == 4, 40, "the others heard from again")
    never_more_than_4([h0, cut], 4)
    started = [e for e in _actions_by(cut, cut.host_id) if e["id"] not in before]
    assert started == []
