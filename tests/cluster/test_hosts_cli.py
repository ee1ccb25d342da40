"""plat hosts and the cluster line of plat status, run as an operator runs them.

The real ``plat`` program runs inside a host's network namespace against real platd hosts,
each with its Serf agent (``platd_cluster.make_cluster``), with its own config dir and
PLAT_API/PLAT_TOKEN. One cluster serves the module: two hosts made by the helper, the third
joined with exactly what ``plat hosts join-token`` printed. What an operator relies on: the
list shows every host and its state; a host killed shows as failed, in ``plat hosts`` and in
``plat status``; the join line works once; a live host (or the host itself) cannot be removed
and a failed one can, after typing its name; an org's token manages no hosts. A daemon that is
not in a cluster says so, and how to make one.

The words themselves (``tui.render``) are checked from tables of answers first, without
processes.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import PLATD, Host, alive_count, make_cluster, wait_for
from tests.conftest import PLAT, Daemon, Result
from tui.render import hosts as host_words

TARGET = "ops/infra/edge/prod"
CONFIRM = b"to remove it: "


# --- the words, from answers -------------------------------------------------------------------


def host(name: str, **kw: Any) -> dict[str, Any]:
    return {"id": f"0190-{name}", "name": name, "api": f"http://10.0.0.{name[-1]}:7400",
            "gossip": f"10.0.0.{name[-1]}:7946", "region": "", "labels": {}, "state": "alive",
            "this_host": False, "cpus": 2.0, "memory": 8 * 2**30, "cordoned": False,
            "joined_at": 1_795_000_000.0, "joined": "5m", "lag_seconds": 0.0, **kw}


@pytest.mark.parametrize(("h", "row"), [
    (host("h1", this_host=True), ["h1 (this host)", "alive", "-", "-", "2", "8G", "0.0 s",
                                  "http://10.0.0.1:7400"]),
    (host("h2", state="failed", lag_seconds=None, region="eu", labels={"b": "2", "a": "1"},
          cordoned=True, memory=0, cpus=0.5),
     ["h2", "failed, cordoned", "eu", "a=1,b=2", "0.5", "-", "-", "http://10.0.0.2:7400"]),
])
def test_a_host_row_says_state_place_capacity_and_lag(h: dict[str, Any], row: list[Any]) -> None:
    assert host_words.host_row(h) == row


@pytest.mark.parametrize(("answer", "line"), [
    ({"cluster": None}, None),
    ({"cluster": "edge", "alive": 3, "total": 3, "lag_seconds": 0.04, "last_sync": 1.0},
     "cluster edge: 3/3 hosts alive, this host 0.0 s behind"),
    ({"cluster": "edge", "alive": 2, "total": 3, "lag_seconds": 1.26, "last_sync": 1.0},
     "cluster edge: 2/3 hosts alive — h3 failed; this host 1.3 s behind"),
    ({"cluster": "edge", "alive": 2, "total": 3, "lag_seconds": 0.0, "last_sync": None},
     "cluster edge: 2/3 hosts alive — h3 failed; this host has not synced with a peer yet"),
])
def test_the_status_line_of_a_cluster(answer: dict[str, Any], line: str | None) -> None:
    down = ["h3 failed"] if answer.get("alive", 0) < answer.get("total", 0) else []
    assert host_words.cluster_status_line(answer, down) == line


def test_the_list_ends_with_the_summary_and_a_lone_host_says_how_to_make_a_cluster() -> None:
    answer = {"cluster": "edge", "alive": 1, "total": 2, "lag_seconds": 0.0,
              "hosts": [host("h1", this_host=True), host("h2", state="left")]}
    lines = host_words.hosts_lines(answer)
    assert lines[0].split() == list(host_words.HOST_HEADERS)
    assert lines[-1] == "cluster edge: 1/2 hosts alive — h2 left"
    alone = host_words.hosts_lines({"cluster": None, "hosts": [], "alive": 0, "total": 0})
    assert alone[0] == "this host is not in a cluster"
    assert "platd init --cluster NAME" in alone[1]
    assert "plat hosts join-token" in alone[2]


def test_describe_offers_removal_only_of_another_host() -> None:
    events = [{"at": 1_795_000_000.0, "outcome": "ok", "message": "host h2 joined the cluster"}]
    failed = host_words.host_lines(host("h2", state="failed", events=events))
    assert "  state     failed" in failed
    assert failed[failed.index("Events:") + 1].endswith("host h2 joined the cluster")
    assert failed[-1].startswith("  plat hosts remove h2   # forget it for good")
    mine = host_words.host_lines(host("h1", this_host=True, events=[]))
    assert mine[0].endswith("(this host)")
    assert "Commands:" not in mine


# --- the real program on real hosts ------------------------------------------------------------


@dataclass
class Cluster:
    lab: Lab
    hosts: list[Host]
    root: Path
    join_output: Result  # what `plat hosts join-token` printed for the third host


def plat_env(h: Host, config: Path, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
    env.update(PLAT_API=h.api, PLAT_TOKEN=token if token is not None else h.token,
               PLAT_CONFIG_DIR=str(config), PLAT_CA_FILE=str(h.ca), COLUMNS="200")
    return env


def plat(h: Host, *args: str, token: str | None = None) -> Result:
    """The real plat, inside ``h``'s namespace, with no terminal (as a script runs it)."""
    r = h.node.run(PLAT, *args, check=False, env=plat_env(h, h.data.parent / "plat-config",
                                                          token), stdin=subprocess.DEVNULL,
                   timeout=60)
    return Result(r.returncode, r.stdout, r.stderr)


def plat_on_a_terminal(h: Host, *args: str, typed: str) -> Result:
    """The real plat with a terminal for stdin and stderr; ``typed`` answers its question.
    ``err`` is what the terminal showed (the question, the echo, the error)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*h.node.prefix, PLAT, *args], stdin=terminal, stderr=terminal,
                            stdout=subprocess.PIPE, env=plat_env(h, h.data.parent / "plat-config"),
                            start_new_session=True)
    os.close(terminal)
    shown = b""
    try:
        deadline = time.monotonic() + 30
        while CONFIRM not in shown and proc.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                shown += os.read(controller, 4096)
        os.write(controller, typed.encode() + b"\n")
        out = proc.communicate(timeout=30)[0].decode()
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Result(proc.returncode, out, shown.decode(errors="replace").replace("\r\n", "\n"))


def join_with(printed: str, member: Host, lab: Lab, index: int, root: Path) -> Host:
    """A new host made with the ``platd init --join`` line ``printed`` shows, adding its own
    data dir, name and addresses as the words under the line say."""
    node = lab[index]
    data = root / f"h{index}"
    line = next(x.strip() for x in printed.splitlines() if x.strip().startswith("platd init"))
    argv = shlex.split(line)
    out = node.run(PLATD, *argv[1:], "--data", str(data), "--name", f"h{index}", "--json",
                   "--gossip", f"{node.ip}:7946", "--advertise", f"https://{node.ip}:7400",
                   check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the printed join line failed: {out.stderr}")
    new = Host(node, data, token=member.token, host_id=json.loads(out.stdout)["host"]["id"])
    new.start()
    return new


@pytest.fixture(scope="module")
def cluster(netns_ready: None, serf_program: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("hosts-cli")
    lab = Lab(3)
    hosts: list[Host] = []
    try:
        hosts += make_cluster(lab, root, size=2)
        printed = plat(hosts[0], "hosts", "join-token", "--ttl", "10m")
        assert printed.code == 0, printed.err
        hosts.append(join_with(printed.out, hosts[0], lab, 2, root))
        wait_for(lambda: all(alive_count(h) == 3 for h in hosts), 30, "all 3 alive")
        for depth, kind in enumerate(("orgs", "projects", "apps", "envs"), start=1):
            r = plat(hosts[1], kind, "create", "/".join(TARGET.split("/")[:depth]))
            assert r.code == 0, r.err
        yield Cluster(lab, hosts, root, printed)
    finally:
        for h in hosts:
            h.kill9()
        lab.destroy()


@pytest.mark.slow
def test_the_join_token_line_makes_a_member_once(cluster: Cluster) -> None:
    printed = cluster.join_output
    token = re.search(r"platj_\S+", printed.out)
    assert token is not None
    assert printed.out.count(token.group(0)) == 1  # shown once, inside the line to run
    assert "single use, expires" in printed.out
    assert "(in 10m)" in printed.out
    # The host made with it is a member every host sees.
    assert "h2" in {h["name"] for h in json.loads(plat(cluster.hosts[0], "hosts", "--json")
                                                  .out)["hosts"]}
    # The same line again is refused: the token is used up.
    (cluster.root / "again").mkdir()
    with pytest.raises(RuntimeError, match="unknown, used or expired"):
        join_with(printed.out, cluster.hosts[0], cluster.lab, 2, cluster.root / "again")
    # --json gives the object, whose join line holds its token.
    t = json.loads(plat(cluster.hosts[1], "hosts", "join-token", "--json").out)
    assert t["join"] == f"platd init --join {cluster.hosts[1].api} --token {t['token']}"
    assert t["expires_in_seconds"] == 3600


@pytest.mark.slow
def test_the_list_shows_every_host_alive_and_status_says_the_cluster(cluster: Cluster) -> None:
    h1 = cluster.hosts[1]
    r = plat(h1, "hosts")
    assert r.code == 0, r.err
    header, *rows, summary = r.out.splitlines()
    assert header.split() == list(host_words.HOST_HEADERS)
    assert [row.split()[:2] for row in rows] == [["h0", "alive"], ["h1", "(this"],
                                                 ["h2", "alive"]]
    assert "h1 (this host)  alive" in rows[1]
    assert summary == "cluster lab: 3/3 hosts alive"
    listed = json.loads(plat(h1, "hosts", "list", "--json").out)
    assert (listed["alive"], listed["total"]) == (3, 3)
    assert [h["this_host"] for h in listed["hosts"]] == [False, True, False]

    described = plat(h1, "hosts", "describe", "h2")
    assert described.code == 0, described.err
    assert "  state     alive" in described.out
    assert "host h2 joined the cluster" in described.out

    status = plat(h1, "status", "--target", TARGET)
    assert status.code == 0, status.err
    assert re.fullmatch(r"cluster lab: 3/3 hosts alive, this host \d+\.\d s behind",
                        status.out.splitlines()[-1]), status.out
    cluster_json = json.loads(plat(h1, "status", "--json", "--target", TARGET).out)["cluster"]
    assert (cluster_json["cluster"], cluster_json["alive"], cluster_json["down"]) == \
        ("lab", 3, [])

    missing = plat(h1, "hosts", "describe", "h9")
    assert missing.code == 4
    assert missing.err.startswith("error: no host 'h9' in this cluster")


@pytest.mark.slow
def test_an_org_token_manages_no_hosts(cluster: Cluster) -> None:
    h0 = cluster.hosts[0]
    made = plat(h0, "tokens", "create", "--org", "ops", "--role", "owner", "--json")
    assert made.code == 0, made.err
    org_token = json.loads(made.out)["token"]
    for args in (("hosts", "join-token"), ("hosts", "remove", "h2", "--yes"),
                 ("hosts", "cordon", "h1"), ("hosts", "drain", "h1")):
        r = plat(h0, *args, token=org_token)
        assert r.code == 3, (args, r.out, r.err)
        assert r.err.startswith("error: managing hosts needs the host admin token"), r.err
        assert r.out == ""
    assert plat(h0, "hosts", token=org_token).code == 0  # seeing them is for everyone
    assert json.loads(plat(h0, "hosts", "--json").out)["total"] == 3


@pytest.mark.slow
def test_a_live_host_or_the_host_itself_is_never_removed(cluster: Cluster) -> None:
    h0 = cluster.hosts[0]
    live = plat(h0, "hosts", "remove", "h1", "--yes")
    assert live.code == 5
    assert "host h1 is alive" in live.err
    itself = plat(h0, "hosts", "remove", "h0", "--yes")
    assert itself.code == 5
    assert "a host cannot remove itself" in itself.err
    unconfirmed = plat(h0, "hosts", "remove", "h1")  # no terminal to type the name on
    assert unconfirmed.code == 2
    assert "plat hosts remove h1 --yes" in unconfirmed.err
    assert json.loads(plat(h0, "hosts", "--json").out)["total"] == 3


@pytest.mark.slow
def test_cordon_drain_and_uncordon_as_an_operator_runs_them(cluster: Cluster) -> None:
    h0 = cluster.hosts[0]

    def state_of(name: str) -> str:
        row = next(line for line in plat(h0, "hosts").out.splitlines()
                   if line.startswith(name + " "))
        return re.split(r"\s{2,}", row)[1]

    r = plat(h0, "hosts", "cordon", "h1")
    assert r.code == 0, r.err
    assert r.out.startswith("Host h1 cordoned (takes no new instances; keeps what it runs)")
    assert state_of("h1") == "alive, cordoned"
    r = plat(h0, "hosts", "drain", "h1")
    assert r.code == 0, r.err
    assert "0 instance(s) placed elsewhere" in r.out  # nothing is deployed in this cluster
    assert state_of("h1") == "alive, draining"
    drained = json.loads(plat(h0, "hosts", "describe", "h1", "--json").out)
    assert drained["draining"] is True
    assert "was drained" in drained["events"][0]["message"]
    r = plat(h0, "hosts", "uncordon", "h1")
    assert r.code == 0, r.err
    assert state_of("h1") == "alive"
    missing = plat(h0, "hosts", "drain", "h9")
    assert missing.code != 0
    assert "no host 'h9'" in missing.err
    assert missing.out == ""


@pytest.mark.slow
def test_a_killed_host_shows_failed_and_is_removed_once_its_name_is_typed(
        cluster: Cluster) -> None:
    h0, h1, h2 = cluster.hosts
    h2.kill9()
    wait_for(lambda: alive_count(h0) == 2 and alive_count(h1) == 2, 30, "h2 seen failed")

    listed = plat(h0, "hosts")
    rows = {line.split()[0]: line.split()[1] for line in listed.out.splitlines()[1:-1]}
    assert rows == {"h0": "(this", "h1": "alive", "h2": "failed"}
    assert listed.out.splitlines()[-1] == "cluster lab: 2/3 hosts alive — h2 failed"
    status = plat(h0, "status", "--target", TARGET)
    assert re.fullmatch(r"cluster lab: 2/3 hosts alive — h2 failed; this host \d+\.\d s behind",
                        status.out.splitlines()[-1]), status.out
    down = json.loads(plat(h0, "status", "--json", "--target", TARGET).out)["cluster"]["down"]
    assert down == [{"name": "h2", "state": "failed"}]

    wrong = plat_on_a_terminal(h0, "hosts", "remove", "h2", typed="h1")
    assert wrong.code == 2, wrong.err
    assert "Removing host h2" in wrong.err
    assert "error: host h2 not removed: 'h1' is not its name" in wrong.err
    assert json.loads(plat(h0, "hosts", "--json").out)["total"] == 3

    removed = plat_on_a_terminal(h0, "hosts", "remove", "h2", typed="h2")
    assert removed.code == 0, removed.err
    assert removed.out.startswith(f"Removed host h2 ({h2.host_id}) from the cluster")
    for h in (h0, h1):  # the removal replicates
        wait_for(lambda h=h: plat(h, "hosts").out.splitlines()[-1]
                 == "cluster lab: 2/2 hosts alive", 15, f"h2 gone on {h.node.name}")


def test_a_host_on_its_own_says_it_is_in_no_cluster(daemon: Daemon) -> None:
    listed = daemon.plat("hosts")
    assert listed.code == 0
    assert listed.out.splitlines()[0] == "this host is not in a cluster"
    assert "platd init --cluster NAME" in listed.out
    assert daemon.plat("hosts", "--json").json()["cluster"] is None
    for args in (("hosts", "describe", "h1"), ("hosts", "join-token"),
                 ("hosts", "remove", "h1", "--yes")):
        r = daemon.plat(*args)
        assert r.code == 5, (args, r.err)
        assert r.err.startswith("error: this host is not in a cluster"), r.err
    target = daemon.make_env()
    status = daemon.plat("status", "--target", target)
    assert status.code == 0
    assert "cluster" not in status.out
    assert daemon.plat("status", "--json", "--target", target).json()["cluster"] is None
