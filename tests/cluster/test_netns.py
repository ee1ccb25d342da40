"""The namespace harness itself: partitions drop what arrives (not what leaves), and nothing
outlives a test, even one whose process was killed."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.cluster.netns import Lab, Node, _in_namespace, _namespaces, sweep_stale

MakeLab = Callable[[int], Lab]


def udp_socket(node: Node, port: int = 0) -> socket.socket:
    """A UDP socket that lives in ``node``'s namespace (bound to its lab address)."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((node.ip, port))
        s.settimeout(0.5)
        return s

    return _in_namespace(node.name, make)


def arrives(sender: socket.socket, receiver: socket.socket, payload: bytes) -> bool:
    sender.sendto(payload, receiver.getsockname())  # never fails locally, partition or not
    try:
        return receiver.recv(100) == payload
    except TimeoutError:
        return False


def test_a_partition_drops_arriving_packets_and_heal_restores_them(make_lab: MakeLab) -> None:
    lab = make_lab(3)
    a, b, c = (udp_socket(node) for node in lab.nodes)
    try:
        assert arrives(a, b, b"before")
        lab.partition([lab[0]], [lab[1], lab[2]])
        assert not arrives(a, b, b"across, a to b")
        assert not arrives(b, a, b"across, b to a")
        assert arrives(b, c, b"same side")
        rules = lab[1].run("iptables", "-S").stdout
        assert f"-A INPUT -s {lab[0].ip}/32 -j DROP" in rules
        assert "-A OUTPUT" not in rules
        lab.heal()
        assert arrives(a, b, b"after")
    finally:
        for s in (a, b, c):
            s.close()


def test_nodes_reach_nothing_outside_the_lab(make_lab: MakeLab) -> None:
    lab = make_lab(1)
    routes = lab[0].run("ip", "route").stdout
    assert "default" not in routes
    assert routes.split()[0] == "10.213.0.0/24"


def test_destroy_kills_what_runs_inside_and_deletes_the_namespaces(make_lab: MakeLab) -> None:
    lab = make_lab(2)
    sleeper = lab[1].popen(["sleep", "60"])
    deadline = time.monotonic() + 5  # `ip netns exec` has to exec sleep before it shows
    while lab[1].pids() != [sleeper.pid] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab[1].pids() == [sleeper.pid]
    names = {lab.hub, *(n.name for n in lab.nodes)}
    lab.destroy()
    assert sleeper.wait(timeout=5) == -9
    assert names.isdisjoint(_namespaces())
    lab.destroy()  # twice is fine


def test_sweep_removes_namespaces_of_runs_that_died_and_only_those(netns_ready: None) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live = f"plat-{dead.pid}-1-0", f"plat-{os.getppid()}-999-0"
    for name in (stale, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert stale in sweep_stale()
        assert stale not in _namespaces()
        assert live in _namespaces()
    finally:
        for name in (stale, live):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@pytest.mark.parametrize("size", [0, 1])
def test_a_lab_can_grow(make_lab: MakeLab, size: int) -> None:
    lab = make_lab(size)
    node = lab.add_node()
    assert node.ip == f"10.213.0.{size + 1}"
    assert "10.213.0." in node.run("ip", "-4", "addr", "show", "eth0").stdout
