"""Several real platd hosts, each with its Serf agent, in network namespaces: one cluster.

What an operator relies on: hosts join with a token; a write on any host is visible through
the API of every host; a host killed and restarted catches up; two sides of a partition both
keep taking writes and, once healed, hold the same state; and the peer API cannot be opened
with a user's token, nor a user route with a peer's signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from platd.cluster import identity, peer_auth
from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import Host, alive_count, make_cluster, wait_for

GOSSIP_PORT = 7946  # where each host's Serf agent listens (platd_cluster.Host.gossip)

pytestmark = pytest.mark.slow


def org_names(host: Host) -> set[str]:
    return {o["name"] for o in host.ok("GET", "/v1/tree/orgs")}


def test_hosts_join_and_share_every_write(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path)
    listing = hosts[1].ok("GET", "/v1/hosts")
    assert listing["cluster"] == "lab"
    assert {h["name"] for h in listing["hosts"]} == {"h0", "h1", "h2"}
    assert [h["this_host"] for h in listing["hosts"]] == [False, True, False]
    # The admin token minted on the first host works on every host: tokens replicate.
    for i, host in enumerate(hosts):
        host.ok("POST", "/v1/tree/orgs", {"path": f"org-from-h{i}"})
    expected = {"org-from-h0", "org-from-h1", "org-from-h2"}
    wait_for(lambda: all(org_names(h) == expected for h in hosts), 10, "every org everywhere")
    wait_for(lambda: len({h.digest() for h in hosts}) == 1, 10, "equal state digests")


def test_a_killed_host_catches_up_when_it_returns(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path)
    hosts[2].kill9()
    wait_for(lambda: alive_count(hosts[0]) == 2, 20, "h2 seen failed")
    failed = [h for h in hosts[0].ok("GET", "/v1/hosts")["hosts"] if h["name"] == "h2"]
    assert failed[0]["state"] == "failed"
    for i in range(20):
        hosts[0].ok("POST", "/v1/tree/orgs", {"path": f"while-down-{i}"})
    hosts[2].start()
    wait_for(lambda: len({h.digest() for h in hosts}) == 1, 20, "h2 caught up")
    assert {f"while-down-{i}" for i in range(20)} <= org_names(hosts[2])


def test_a_partition_with_writes_on_both_sides_heals_to_one_state(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    lab = make_lab(3)
    hosts = make_cluster(lab, tmp_path)
    lab.partition([lab[0]], [lab[1], lab[2]])
    wait_for(lambda: alive_count(hosts[0]) == 1, 20, "h0 sees itself alone")
    hosts[0].ok("POST", "/v1/tree/orgs", {"path": "left-side"})
    hosts[1].ok("POST", "/v1/tree/orgs", {"path": "right-side"})
    wait_for(lambda: "right-side" in org_names(hosts[2]), 10, "the right side shares")
    assert "right-side" not in org_names(hosts[0])  # a cut-off host keeps working alone
    lab.heal()
    wait_for(lambda: len({h.digest() for h in hosts}) == 1, 20, "one state after the heal")
    for host in hosts:
        assert {"left-side", "right-side"} <= org_names(host)


def test_a_healed_partition_converges_through_anti_entropy_while_gossip_still_says_failed(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    """After the cut the APIs answer again but gossip stays cut (Serf's port still dropped),
    so Serf keeps the other side failed for the whole test: only anti-entropy trying failed
    peers can bring the two sides' writes together."""
    lab = make_lab(3)
    hosts = make_cluster(lab, tmp_path)
    lab.partition([lab[0]], [lab[1], lab[2]])
    wait_for(lambda: alive_count(hosts[0]) == 1, 20, "h0 sees itself alone")
    wait_for(lambda: all(alive_count(h) == 2 for h in hosts[1:]), 20, "h1, h2 see h0 failed")
    hosts[0].ok("POST", "/v1/tree/orgs", {"path": "left-side"})
    hosts[2].ok("POST", "/v1/tree/orgs", {"path": "right-side"})
    wait_for(lambda: "right-side" in org_names(hosts[1]), 10, "the right side shares")
    lab.partition([lab[0]], [lab[1], lab[2]], ports=[GOSSIP_PORT])  # only gossip stays cut
    wait_for(lambda: len({h.digest() for h in hosts}) == 1, 30, "one state, gossip still cut")
    for host in hosts:
        assert {"left-side", "right-side"} <= org_names(host)
    # Gossip never re-merged: the other side is failed in every host's view all along.
    assert alive_count(hosts[0]) == 1
    assert [alive_count(h) for h in hosts[1:]] == [2, 2]
    h0 = [h for h in hosts[1].ok("GET", "/v1/hosts")["hosts"] if h["name"] == "h0"]
    assert h0[0]["state"] == "failed"
    # A write made now still crosses, while gossip calls its origin failed.
    hosts[0].ok("POST", "/v1/tree/orgs", {"path": "after-the-heal"})
    wait_for(lambda: all("after-the-heal" in org_names(h) for h in hosts), 20,
             "a write after the heal on every host")
    # Some host reached the other side while gossip called it failed (which one first depends
    # on the schedule: h1, h2, or h0 itself reaching them).
    said = "".join(h.log.read_text(errors="replace") for h in hosts)
    assert "while gossip still calls it failed" in said, hosts[1].tail()


def test_peer_routes_refuse_user_tokens_and_user_routes_refuse_peers(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(2), tmp_path)
    h0 = hosts[0]
    status, answer = h0.request("GET", "/v1/peer/high-water")  # the admin token
    assert status == 401
    assert "peers only" in answer["error"]["message"]
    ident = identity.load(h0.data)
    assert ident is not None
    signed = peer_auth.sign(ident.key, hosts[1].host_id, "GET", "/v1/tree/orgs")
    status, _ = h0.request("GET", "/v1/tree/orgs", token="", headers={"Authorization": signed})
    assert status == 401
    # A signature made with another key, or for another path, is refused.
    forged = peer_auth.sign(b"x" * 32, hosts[1].host_id, "GET", "/v1/peer/high-water")
    assert h0.request("GET", "/v1/peer/high-water", token="",
                      headers={"Authorization": forged})[0] == 401
    replayed = peer_auth.sign(ident.key, hosts[1].host_id, "GET", "/v1/peer/rows?origin=x")
    assert h0.request("GET", "/v1/peer/high-water", token="",
                      headers={"Authorization": replayed})[0] == 401
    good = peer_auth.sign(ident.key, hosts[1].host_id, "GET", "/v1/peer/high-water")
    status, marks = h0.request("GET", "/v1/peer/high-water", token="",
                               headers={"Authorization": good})
    assert status == 200
    assert h0.host_id in marks["marks"]


def test_a_join_token_works_once(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    from tests.cluster.platd_cluster import init

    lab = make_lab(3)
    hosts = make_cluster(lab, tmp_path, size=2)
    token = hosts[0].ok("POST", "/v1/hosts/join-tokens", {})["token"]
    assert token not in hosts[0].tail(200)  # never in the daemon's log
    init(lab[2], tmp_path / "h2", "--join", hosts[0].api, "--token", token)
    with pytest.raises(RuntimeError, match="unknown, used or expired"):
        init(lab[2], tmp_path / "h2-again", "--join", hosts[0].api, "--token", token)


MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 2
min_ready = "1s"
"""  # spread over the two hosts: one instance each


def test_a_host_back_from_an_absence_syncs_before_it_acts(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    """While h1 was down its env was deleted elsewhere; back up, h1 must not start that env's
    instances from what it held before (the fake runtime forgets instances on a restart, so an
    ungated first pass would create them again)."""
    hosts = make_cluster(make_lab(2), tmp_path)
    h0, h1 = hosts
    wait_for(lambda: all(x["cpus"] > 0 for x in h0.ok("GET", "/v1/hosts")["hosts"]), 20,
             "h0 knows h1's capacity (placement counts on it)")
    for kind, path in (("orgs", "o"), ("projects", "o/p"), ("apps", "o/p/web"),
                       ("envs", "o/p/web/prod")):
        h0.ok("POST", f"/v1/tree/{kind}", {"path": path})
    h0.ok("POST", "/v1/envs/o/p/web/prod/deploy", {"manifest": MANIFEST})
    wait_for(lambda: _actions_by(h1, h1.host_id), 20, "h1 acted on the env")
    h1.kill9()
    h0.ok("DELETE", "/v1/tree/envs/o/p/web/prod")
    before = len(_actions_by(h1, h1.host_id))  # all it had done, from its own database
    h1.start()
    wait_for(lambda: len({h.digest() for h in hosts}) == 1, 30, "h1 caught up")
    time.sleep(2)  # a pass or two after the sync
    assert len(_actions_by(h0, h1.host_id)) == before  # nothing done from stale state


def _actions_by(host: Host, origin: str) -> list[dict[str, object]]:
    """What host ``origin``'s reconciler did to envs (pulls, creates), as ``host`` has it.
    (Each fake runtime has its own registry, so a host that did not pin the image records a
    failed pull: an action all the same.)"""
    ident = identity.load(host.data)
    assert ident is not None
    from sqlmodel import col, select

    from platd.store.db import Store
    from platd.store.models import Event

    store = Store(host.data / "state.db", host.host_id)
    try:
        with store.read() as session:
            rows = session.exec(select(Event).where(
                Event.origin == origin, Event.env_id != "",
                col(Event.step).in_(("pull", "create", "start")))).all()
            return [{"id": e.id, "at": e.at} for e in rows]
    finally:
        store.close()
