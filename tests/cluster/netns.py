"""Several "hosts" on one machine: network namespaces on a private bridge, for cluster tests.

A ``Lab`` of N nodes is N namespaces ``plat-<pid>-<lab>-<i>``, each with its loopback up and one
veth ``eth0`` holding ``10.213.0.<i+1>/24``, whose other end sits on a bridge in a hub namespace
``plat-<pid>-<lab>-hub``. Nothing is created in the machine's own namespace: no address, no
route, no firewall rule, so nothing can route off the machine, and Docker's FORWARD DROP policy
(which a bridge in the root namespace would be subject to, through br_netfilter) never applies.

Partitions are iptables INPUT DROP rules inside the node namespaces, by source address. Not
OUTPUT: a dropped send fails locally with EPERM, so Serf would know at once that it cannot talk
instead of suspecting its peer, and nobody would ever be marked failed.

Processes run inside a node with ``node.popen``/``node.run`` (``ip netns exec``) or a command
prefix (``node.prefix``); ``node.open_socket`` connects from this process to an address as seen
inside the node (its own loopback, say) by entering the namespace in a short-lived thread.
``Lab.destroy`` kills every process in the lab's namespaces and deletes them; ``sweep_stale``
removes namespaces left by test runs that were killed before they could clean up.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["SUBNET", "Lab", "Node", "netns_problem", "sweep_stale"]

SUBNET = "10.213.0"  # /24; exists only inside the namespaces a Lab creates
MAX_NODES = 250
_NAME_RE = re.compile(r"^plat-(?P<pid>\d+)-\d+-(?:\d+|hub)$")
_CLONE_NEWNET = 0x40000000
_labs = itertools.count(1)
T = TypeVar("T")


def netns_problem() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    for tool, package in (("ip", "iproute2"), ("iptables-restore", "iptables")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup installs {package})"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def _sh(*argv: str, input: str | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, input=input)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pids_in(namespace: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _kill_all_in(namespace: str, timeout: float = 5.0) -> list[int]:
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while pids := _pids_in(namespace):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} in {namespace} survived SIGKILL")
        time.sleep(0.02)
    return killed


def _delete(namespace: str) -> None:
    _kill_all_in(namespace)
    subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)


def sweep_stale() -> list[str]:
    """Delete ``plat-<pid>-*`` namespaces whose test process is gone; returns their names."""
    swept = []
    for name in _namespaces():
        match = _NAME_RE.match(name)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # another run, still going
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _delete(name)
        swept.append(name)
    return swept


def _in_namespace(namespace: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread that has entered ``namespace`` (setns moves only the
    calling thread, and this one ends right after, so no other code runs in there)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into {namespace}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns {namespace}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


@dataclass(frozen=True)
class Node:
    """One namespace of a lab: a host with one address on the lab's bridge."""

    name: str  # the namespace
    index: int
    ip: str

    @property
    def prefix(self) -> list[str]:
        """Put before a command line to run it inside this node."""
        return ["ip", "netns", "exec", self.name]

    def run(
        self, *argv: str, check: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *argv], check=check, capture_output=True, text=True, **kwargs
        )

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.prefix, *argv], **kwargs)

    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to ``host:port`` as this node sees it (a ``SocketOpener``)."""
        return _in_namespace(
            self.name, lambda: socket.create_connection((host, port), timeout=timeout)
        )

    def pids(self) -> list[int]:
        return _pids_in(self.name)

    def kill9(self) -> list[int]:
        """SIGKILL every process running in this node, as a power cut would; returns them."""
        return _kill_all_in(self.name)

    def set_input_drops(self, sources: Iterable[str], ports: Sequence[int] = ()) -> None:
        """Replace this node's firewall: drop every packet arriving from ``sources`` (only
        those to ``ports``, TCP and UDP, if given)."""
        matches = [f"-p {proto} --dport {port} " for port in ports for proto in ("tcp", "udp")]
        rules = "".join(f"-A INPUT -s {ip}/32 {m}-j DROP\n" for ip in sorted(set(sources))
                        for m in matches or [""])
        table = (
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            f"{rules}COMMIT\n"
        )
        _sh(*self.prefix, "iptables-restore", input=table)


class Lab:
    """N namespaces on one bridge; ``with Lab(3) as lab:`` or ``destroy()`` when done."""

    def __init__(self, size: int) -> None:
        self.id = f"plat-{os.getpid()}-{next(_labs)}"
        self.hub = f"{self.id}-hub"
        self.nodes: list[Node] = []
        self._created: list[str] = []
        try:
            self._add_namespace(self.hub)
            _sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
            _sh("ip", "-n", self.hub, "link", "set", "br0", "up")
            for _ in range(size):
                self.add_node()
        except BaseException:
            self.destroy()
            raise

    def add_node(self) -> Node:
        index = len(self.nodes)
        if index >= MAX_NODES:
            raise ValueError(f"a lab holds at most {MAX_NODES} nodes")
        node = Node(f"{self.id}-{index}", index, f"{SUBNET}.{index + 1}")
        self._add_namespace(node.name)
        port = f"p{index}"
        _sh("ip", "link", "add", "eth0", "netns", node.name, "type", "veth",
            "peer", "name", port, "netns", self.hub)
        _sh("ip", "-n", self.hub, "link", "set", port, "master", "br0", "up")
        _sh("ip", "-n", node.name, "addr", "add", f"{node.ip}/24", "dev", "eth0")
        _sh("ip", "-n", node.name, "link", "set", "eth0", "up")
        self.nodes.append(node)
        return node

    def _add_namespace(self, name: str) -> None:
        _sh("ip", "netns", "add", name)
        self._created.append(name)
        _sh("ip", "-n", name, "link", "set", "lo", "up")

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    def partition(self, *groups: Iterable[Node], ports: Sequence[int] = ()) -> None:
        """Cut the lab into ``groups``: nothing arrives across groups (only nothing to
        ``ports``, if given: e.g. gossip cut while the APIs answer). The nodes not named form
        one more group together."""
        sides = [list(g) for g in groups]
        named = {n.name for side in sides for n in side}
        rest = [n for n in self.nodes if n.name not in named]
        if rest:
            sides.append(rest)
        for side in sides:
            outside = [n.ip for other in sides if other is not side for n in other]
            for node in side:
                node.set_input_drops(outside, ports)

    def isolate(self, node: Node) -> None:
        self.partition([node])

    def heal(self) -> None:
        for node in self.nodes:
            node.set_input_drops(())

    def destroy(self) -> None:
        """Kill every process in the lab and delete its namespaces; safe to call twice."""
        for name in reversed(self._created):
            _delete(name)
        self._created.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()
