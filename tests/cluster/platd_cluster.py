"""Real platd processes as cluster hosts, one per namespace of a lab.

Each host is ``platd serve`` (the fake runtime unless a test asks for ``docker``: most are about
state, not containers) on its lab address, port 7400, with its own data dir, serving https (a
lab address is not loopback, so platd always serves TLS there, with a certificate of the
cluster's CA); platd starts its own Serf agent, bound to the lab address, RPC on the
namespace's loopback. A node is a ``netns.Node`` or anything with its interface
(``HostNode``): ``loopback.LoopbackNode`` puts hosts on loopback addresses of the machine's own
namespace, where Docker's containers are, and there platd serves plain http. The first host
makes the cluster, the others join it with a token, exactly as an operator would. The test
talks to a host through a socket opened inside its namespace, trusting the cluster CA only, and
reads
each host's state database from disk to compare digests.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from platd.store.db import Store

PLATD = str(Path(sys.executable).parent / "platd")
API_PORT = 7400


class HostNode(Protocol):
    """Where a host runs: what ``netns.Node`` and ``loopback.LoopbackNode`` both offer."""

    @property
    def name(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def ip(self) -> str: ...
    @property
    def prefix(self) -> list[str]: ...  # put before a command line to run it on the node

    def run(self, *argv: str, check: bool = True,
            **kwargs: Any) -> subprocess.CompletedProcess[str]: ...
    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]: ...
    def open_socket(self, host: str, port: int, timeout: float) -> socket.socket: ...
    def kill9(self) -> list[int]: ...


class HostLab(Protocol):
    @property
    def nodes(self) -> Sequence[HostNode]: ...


class NodeConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a host's API opened on its node (https with the CA beyond
    loopback)."""

    def __init__(self, node: HostNode, timeout: float, ca: Path | None) -> None:
        super().__init__(node.ip, API_PORT, timeout=timeout)
        self._node = node
        self._ca = ca

    def connect(self) -> None:
        sock = self._node.open_socket(self._node.ip, API_PORT, self.timeout or 5.0)
        if self._ca is None:  # loopback: platd serves plain http there
            self.sock = sock
            return
        context = ssl.create_default_context(cafile=str(self._ca))
        self.sock = context.wrap_socket(sock, server_hostname=self._node.ip)


def scheme(node: HostNode) -> str:
    """How platd serves on the node's address: TLS always beyond loopback, never on it."""
    return "http" if ipaddress.ip_address(node.ip).is_loopback else "https"


@dataclass
class Host:
    node: HostNode
    data: Path
    token: str = ""
    proc: subprocess.Popen[bytes] | None = None
    host_id: str = ""
    settings: str = ""  # more platd.toml lines, written before the first start
    runtime: str = "fake"  # or "docker"
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.parent / f"{self.data.name}.log"

    @property
    def api(self) -> str:
        return f"{scheme(self.node)}://{self.node.ip}:{API_PORT}"

    @property
    def tls(self) -> bool:
        return scheme(self.node) == "https"

    @property
    def ca(self) -> Path:
        """The cluster CA (every member holds the same one)."""
        return self.data / "tls" / "ca.pem"

    @property
    def gossip(self) -> str:
        return f"{self.node.ip}:7946"

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0
                ) -> tuple[int, Any]:
        conn = NodeConnection(self.node, timeout, self.ca if self.tls else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token is None:
            token = self.token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        return r.status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, (status, answer, self.tail())
        return answer

    def start(self) -> None:
        settings = self.data / "platd.toml"
        text = settings.read_text() if settings.exists() else ""
        if "anti_entropy_seconds" not in text:
            text = "anti_entropy_seconds = 1\n" + self.settings + text
            settings.write_text(text)
        self.proc = self.node.popen(
            [PLATD, "serve", "--data", str(self.data), "--listen", f"{self.node.ip}:{API_PORT}",
             "--runtime", self.runtime],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        # A bound on a hang: platd took 15 s to start on a machine at load 25.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"platd on {self.node.name} exited: {self.tail()}")
            try:
                status, _ = self.request("GET", "/v1/health", token="", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"platd on {self.node.name} did not answer: {self.tail()}")

    def kill9(self) -> None:
        """platd and its Serf agent (everything the node runs), as a power cut would."""
        self.node.kill9()
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def digest(self) -> str:
        store = Store(self.data / "state.db", self.host_id)
        try:
            return store.digest()
        finally:
            store.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def init(node: HostNode, data: Path, *extra: str) -> dict[str, Any]:
    out = node.run(PLATD, "init", "--data", str(data), "--name", f"h{node.index}", "--json",
                   "--gossip", f"{node.ip}:7946", "--advertise",
                   f"{scheme(node)}://{node.ip}:{API_PORT}",
                   *extra, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"platd init failed: {out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def make_cluster(lab: HostLab, root: Path, size: int | None = None,
                 settings: str | Callable[[HostNode], str] = "",
                 runtime: str = "fake") -> list[Host]:
    """A cluster of ``size`` hosts (all of the lab's nodes by default), all alive;
    ``settings``: platd.toml lines every host starts with (or a function of the node giving
    each host its own, e.g. its endpoint address pool); ``runtime``: platd's ``--runtime``."""
    nodes = lab.nodes[: size or len(lab.nodes)]

    def lines(node: HostNode) -> str:
        return settings(node) if callable(settings) else settings

    first = Host(nodes[0], root / "h0", settings=lines(nodes[0]), runtime=runtime)
    made = init(first.node, first.data, "--cluster", "lab")
    first.token, first.host_id = made["token"], made["host"]["id"]
    first.start()
    hosts = [first]
    for node in nodes[1:]:
        hosts.append(join(first, node, root / f"h{node.index}", lines(node), runtime))
    wait_for(lambda: all(alive_count(h) == len(hosts) for h in hosts), 30,
             "every host sees every host alive")
    return hosts


def join(member: Host, node: HostNode, data: Path, settings: str = "",
         runtime: str = "fake") -> Host:
    token = member.ok("POST", "/v1/hosts/join-tokens", {})["token"]
    joined = init(node, data, "--join", member.api, "--token", token)
    host = Host(node, data, token=member.token, host_id=joined["host"]["id"], settings=settings,
                runtime=runtime)
    host.start()
    return host


def alive_count(host: Host) -> int:
    try:
        status, answer = host.request("GET", "/v1/hosts", timeout=3)
    except OSError:
        return -1
    if status != 200:
        return -1
    return sum(1 for h in answer["hosts"] if h["state"] == "alive")


def wait_for(check: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except (TimeoutError, OSError, http.client.HTTPException):
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)
