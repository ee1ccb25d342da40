"""``plat logs --follow`` across hosts on a real cluster (platd + Serf per network namespace).

What a user relies on: following an env's logs on one host shows the new lines of instances on
every host, each with its host; a host that dies is said to be unreachable (not silently
quiet), and once it is back its lines follow from where they stopped: none skipped, none twice.
The steps are the API's (what the CLI's follow loop sends); the CLI itself is tested at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import PLATD, Host, alive_count, make_cluster, wait_for
from tests.cluster.test_placement_cluster import (
    TARGET,
    capacities_known,
    deploy,
    healthy_on,
)

pytestmark = pytest.mark.slow

MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 3
[workloads.site.health]
tcp = 8080
"""


class Follower:
    """A follow on one host, step by step, with every line it was given."""

    def __init__(self, host: Host) -> None:
        self.host = host
        page = host.ok("GET", f"/v1/envs/{TARGET}/logs?limit=1000")
        self.cursors: str = page["cursors"]
        self.lines: list[dict[str, Any]] = list(page["lines"])
        self.unreachable: set[str] = {u["host"] for u in page["unreachable"]}

    def step(self, wait: float = 2.0) -> dict[str, Any]:
        query = urlencode({"cursors": self.cursors, "wait": wait, "limit": 1000})
        status, page = self.host.request("GET", f"/v1/envs/{TARGET}/logs?{query}",
                                         timeout=wait + 30)
        assert status == 200, (status, page)
        self.cursors = page["cursors"]
        self.lines += page["lines"]
        self.unreachable = {u["host"] for u in page["unreachable"]}
        return dict(page)

    def hosts_of(self, text: str) -> set[str]:
        return {line["host"] for line in self.lines if text in line["message"]}


def test_follow_streams_every_host_says_a_lost_one_and_resumes_it(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(3), tmp_path)
    h0, h1, h2 = hosts
    capacities_known(hosts)
    deploy(h0, MANIFEST)
    wait_for(lambda: len(healthy_on(h0)) == 3, 30, "site on each of the 3 hosts")
    follower = Follower(h0)
    assert len(follower.cursors.split(",")) == 3
    seen_before = len(follower.lines)

    # New instances on every host: their lines reach the follow on h0, each with its host.
    h1.ok("POST", f"/v1/envs/{TARGET}/scale", {"workload": "site", "count": 6})

    def new_lines_from_every_host() -> bool:
        follower.step()
        return {line["host"] for line in follower.lines[seen_before:]} == {"h0", "h1", "h2"}

    wait_for(new_lines_from_every_host, 40, "new lines from each host through h0's follow")

    # A host that dies is said to be unreachable, at once, not after the wait.
    h2_cursor = next(c for c in follower.cursors.split(",") if c.startswith(h2.host_id))
    h2.kill9()

    def h2_unreachable() -> bool:
        started = time.monotonic()
        follower.step(wait=10)
        return "h2" in follower.unreachable and time.monotonic() - started < 8

    wait_for(h2_unreachable, 30, "h2 said to be unreachable")
    assert f"{h2_cursor}:u" in follower.cursors.split(",")  # its place is kept
    lines_at_kill = len(follower.lines)

    # Back: its lines (the instances it starts again) follow from its cursor on.
    h2.start()
    wait_for(lambda: alive_count(h0) == 3, 30, "h2 alive again")

    def h2_back_with_new_lines() -> bool:
        follower.step()
        return "h2" not in follower.unreachable and any(
            line["host"] == "h2" for line in follower.lines[lines_at_kill:])

    wait_for(h2_back_with_new_lines, 40, "h2's new lines after it came back")
    h2_seq = int(h2_cursor.split(":")[1])
    assert all(line["seq"] > h2_seq for line in follower.lines[lines_at_kill:]
               if line["host"] == "h2")
    # Nothing was given twice, on any host.
    counts = Counter((line["host"], line["seq"]) for line in follower.lines)
    assert [k for k, n in counts.items() if n > 1] == []

    # A cursor that is not one is refused with what to do, not a traceback.
    status, answer = h0.request("GET", f"/v1/envs/{TARGET}/logs?cursors=nope&wait=0")
    assert status == 422, answer
    assert "HOST:SEQ" in answer["error"]["message"]


def test_the_cli_follows_every_host_with_the_host_in_each_line(
    make_lab: Callable[[int], Lab], serf_program: str, tmp_path: Path
) -> None:
    hosts = make_cluster(make_lab(2), tmp_path)
    h0, h1 = hosts
    capacities_known(hosts)
    deploy(h0, MANIFEST.replace("count = 3", "count = 2"))
    wait_for(lambda: len(healthy_on(h0)) == 2, 30, "site on both hosts")
    plat = str(Path(PLATD).parent / "plat")
    config = tmp_path / "cli"
    # The lab address is not loopback: the API is TLS, and the CLI trusts the cluster's CA.
    env = {**os.environ, "PLAT_CONFIG_DIR": str(config), "PLAT_CA_FILE": str(h0.ca)}
    login = h0.node.run(plat, "login", "--api", h0.api, "--token-stdin", input=h0.token,
                        env=env, check=False)
    assert login.returncode == 0, login.stderr
    out = tmp_path / "follow.out"
    with out.open("wb") as sink:
        proc = h0.node.popen([plat, "logs", "-f", "--target", TARGET, "--limit", "1"],
                             stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        time.sleep(2)
        h1.ok("POST", f"/v1/envs/{TARGET}/scale", {"workload": "site", "count": 4})
        wait_for(lambda: {"h0:site/", "h1:site/"} <= {
            w[:8] for w in out.read_text().split()}, 40,
            "lines of both hosts in plat logs -f")
        h1.kill9()
        wait_for(lambda: "host h1 cannot be reached" in out.read_text(), 40,
                 "the CLI says h1 is lost")
    finally:
        proc.terminate()
        proc.wait(10)
