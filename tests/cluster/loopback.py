"""Several "hosts" in the machine's own network namespace, each on its own loopback address.

For cluster tests with the real Docker engine: containers sit on Docker bridges in the root
namespace, which a host inside a network namespace (``netns.Lab``) cannot reach (health probes,
the ingress, exec all need the container's address), and the lab's 10.213.0.x addresses overlap
platd's default instance network pool. Here a host is an address of 127.0.0.0/8 (every one of
them answers on ``lo`` on Linux, nothing is added to the machine): the API on ADDRESS:7400,
Serf gossip on ADDRESS:7946 and its RPC on ADDRESS:7373, so hosts never share a port. The
addresses are ``127.<a>.<b>.<i+1>`` with ``a.b`` taken from the test process's pid, so two runs
on one machine (or ``scripts/dev-cluster`` on 127.0.0.x) do not collide.

``LoopbackNode`` has the interface of ``netns.Node`` that ``platd_cluster`` uses, so the same
``Host``/``make_cluster`` code drives both. ``kill9`` kills what this node started and every
descendant (platd's Serf agent runs in a session of its own, so a process group would miss it),
as a power cut would kill the host's daemons; containers are the engine's and keep running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopbackLab", "LoopbackNode"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: parse after its end.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    tree = _children()
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(tree.get(p, []))
    return found


@dataclass(eq=False)
class LoopbackNode:
    """One host: a loopback address, and the processes started for it."""

    name: str
    index: int
    ip: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def prefix(self) -> list[str]:
        """Put before a command line to run it on this node: nothing, it is this machine."""
        return []

    def run(
        self, *argv: str, check: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    def kill9(self) -> list[int]:
        """SIGKILL every process this node started and their descendants; returns them."""
        killed: list[int] = []
        for proc in self.procs:
            if proc.poll() is not None:
                continue
            for pid in _tree(proc.pid):  # collected before any dies (orphans get reparented)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in killed) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.procs = [p for p in self.procs if p.poll() is None]
        return killed


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


class LoopbackLab:
    """``size`` loopback nodes; ``destroy()`` kills whatever they still run."""

    def __init__(self, size: int) -> None:
        pid = os.getpid()
        a, b = (pid >> 8) % 254 + 1, pid % 256
        self.nodes = [LoopbackNode(f"lo{i}", i, f"127.{a}.{b}.{i + 1}") for i in range(size)]

    def destroy(self) -> None:
        for node in self.nodes:
            node.kill9()
