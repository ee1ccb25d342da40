"""``plat volumes create --host`` on a real cluster (platd + Serf per network namespace, real
loop-device volumes): the volume is made on the host asked for, whichever host the user asked,
every host describes it on that host, and the workload that mounts it runs there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import Host, make_cluster, wait_for
from tests.cluster.test_placement_cluster import TARGET, capacities_known, deploy, status
from tests.volumes.volume_support import cleanup_volumes, loops_of, needs_loop

pytestmark = [pytest.mark.slow, needs_loop]

MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 1
[workloads.site.health]
tcp = 8080
"""

WITH_DB = MANIFEST + """
[workloads.db]
image = "127.0.0.1:5000/hello:v1"
count = 1
[workloads.db.health]
tcp = 8080

[[volumes]]
name = "data"
workload = "db"
mount = "/data"
"""


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for data in sorted(tmp_path.glob("h*")):
        if data.is_dir():
            cleanup_volumes(data)


def test_a_volume_is_made_on_the_host_asked_for_and_its_workload_runs_there(
    make_lab: Callable[[int], Lab], serf_program: str, root: Path
) -> None:
    hosts = make_cluster(make_lab(3), root)
    h0, h1, h2 = hosts
    capacities_known(hosts)
    deploy(h0, MANIFEST)

    # Asked on h0, made on h2: its disk holds the volume, h0's does not.
    made = h0.ok("POST", f"/v1/envs/{TARGET}/volumes",
                 {"name": "data", "size": "300M", "host": "h2"})
    assert made["host"]["name"] == "h2"
    assert made["mounted"] is True
    assert loops_of(h2.data)
    assert not loops_of(h0.data)

    def described_on_h2(host: Host) -> bool:
        code, answer = host.request("GET", f"/v1/envs/{TARGET}/volumes/data")
        return code == 200 and answer["host"]["name"] == "h2"  # 404 until it replicated

    wait_for(lambda: all(described_on_h2(h) for h in hosts), 20,
             "every host describes the volume on h2")
    events = h2.ok("GET", f"/v1/envs/{TARGET}/events?limit=50")["events"]
    assert any("created volume data" in e["message"] and "on host h2" in e["message"]
               for e in events)

    # The workload that mounts it is placed where it is.
    h1.ok("POST", f"/v1/envs/{TARGET}/deploy", {"manifest": WITH_DB})

    def db_on_h2() -> bool:
        db = next((w for w in status(h0)["workloads"] if w["name"] == "db"), None)
        return db is not None and [(i["host"], i["health"]) for i in db["instances"]] == [
            (h2.host_id, "healthy")]

    wait_for(db_on_h2, 40, "db running on h2, the volume's host")

    # No host by that name: refused, listing every host of the cluster.
    code, answer = h0.request("POST", f"/v1/envs/{TARGET}/volumes",
                              {"name": "other", "size": "300M", "host": "h9"})
    assert code == 422, answer
    assert "no host meets host h9" in answer["error"]["message"]
    assert {h["name"] for h in answer["error"]["details"]["hosts"]} == {"h0", "h1", "h2"}

    # A host that cannot be reached: said, and nothing made anywhere.
    h1.kill9()
    code, answer = h0.request("POST", f"/v1/envs/{TARGET}/volumes",
                              {"name": "other", "size": "300M", "host": "h1"}, timeout=30)
    assert code == 409, answer
    assert "host h1, which cannot be reached now" in answer["error"]["message"]
    assert [v["name"] for v in h0.ok("GET", f"/v1/envs/{TARGET}/volumes")["volumes"]] == ["data"]
