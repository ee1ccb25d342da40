"""Cross-host endpoints through real HAProxy: the serving host's proxy reaches an instance on
another host through that host's hop, and the instance sees the client's address.

Two HaproxyDrivers on loopback play two hosts: "A" serves the endpoint with a backend that is
B's hop; "B" runs the hop, which only its peers may reach, and forwards to its instance.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from pathlib import Path

import pytest

from platd.ingress.haproxy import HaproxyDriver, render
from platd.ingress.model import Backend, Hop, IngressConfig, Listener
from platd.spec import proxy_v2
from tests.endpoints.conftest import free_port

needs_haproxy = pytest.mark.skipif(shutil.which("haproxy") is None,
                                   reason="haproxy is not installed (scripts/setup installs it)")


class Instance:
    """A TCP server that answers with the PROXY v2 source it was given, or "none"."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = conn.recv(4096)
                try:
                    h = proxy_v2.parse(data)
                    answer = f"{h.src_addr}:{h.src_port} to {h.dst_addr}:{h.dst_port}"
                except Exception:
                    answer = "none"
                conn.sendall(answer.encode() + b"\n")

    def close(self) -> None:
        self.sock.close()


def ask(port: int) -> tuple[str, int]:
    """(the instance's answer, the client's own port) for one connection to 127.0.0.1:port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"hello")
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(200)
            if not chunk:
                break
            data += chunk
        return data.decode().strip(), int(c.getsockname()[1])


def configs(ep_port: int, hop_port: int, inst: int, *, proxy: bool,
            peers: tuple[str, ...] = ("127.0.0.1",)) -> tuple[IngressConfig, IngressConfig]:
    """(A's config: the endpoint, to B's hop; B's: the hop, to its instance)."""
    a = IngressConfig((Listener("ipv4", "127.0.0.1", ep_port, "ep1", "o/p/a/prod web", proxy,
                                (Backend("127.0.0.1", hop_port, "inst1", hop=True),)),))
    route = Listener("ipv4", "127.0.0.1", ep_port, "ep1", "o/p/a/prod web", proxy,
                     (Backend("127.0.0.1", inst, "inst1"),))
    b = IngressConfig((), Hop("ipv4", "127.0.0.1", hop_port, peers, (route,)))
    return a, b


def test_render_a_hop_and_a_backend_on_another_host(tmp_path: Path) -> None:
    a, b = configs(8080, 7401, 9000, proxy=False, peers=("10.0.0.1", "10.0.0.2"))
    text_a = render(a, tmp_path)
    # A hop is spoken to with PROXY v2 even when the endpoint does not ask for it.
    assert "server inst1_" in text_a
    assert "127.0.0.1:7401 send-proxy-v2" in text_a
    text_b = render(b, tmp_path)
    assert "bind 127.0.0.1:7401\n" in text_b
    assert "tcp-request connection reject unless { src 10.0.0.1 10.0.0.2 }" in text_b
    assert "tcp-request connection expect-proxy layer4" in text_b
    assert "if { dst 127.0.0.1 } { dst_port 8080 }" in text_b
    # ... and the last hop sends none to an instance whose endpoint did not ask for it.
    assert "127.0.0.1:9000\n" in text_b
    assert "9000 send-proxy-v2" not in text_b


def _run(tmp_path: Path, proxy: bool, peers: tuple[str, ...],
         changes: bool = False) -> list[tuple[str, int]]:
    inst = Instance()
    ep_port, hop_port = free_port(), free_port()

    async def body() -> list[tuple[str, int]]:
        host_a = HaproxyDriver(tmp_path / "a")
        host_b = HaproxyDriver(tmp_path / "b")
        await host_a.start()
        await host_b.start()
        try:
            a, b = configs(ep_port, hop_port, inst.port, proxy=proxy, peers=peers)
            assert (await host_a.apply(a)).failed == {}
            assert (await host_b.apply(b)).failed == {}
            answers = [await asyncio.to_thread(ask, ep_port)]
            if changes:
                # The instance moves on B (new address): a server change, no reload.
                other = Instance()
                try:
                    route = b.hop.routes[0]  # type: ignore[union-attr]
                    moved = IngressConfig((), Hop("ipv4", "127.0.0.1", hop_port, peers, (
                        Listener(**{**route.__dict__, "backends": (
                            Backend("127.0.0.1", other.port, "inst2"),)}),)))
                    assert (await host_b.apply(moved)).failed == {}
                    answers.append(await asyncio.to_thread(ask, ep_port))
                finally:
                    other.close()
            return answers
        finally:
            await host_a.close()
            await host_b.close()

    try:
        return asyncio.run(body())
    finally:
        inst.close()


@needs_haproxy
def test_an_endpoint_reaches_an_instance_on_another_host_with_the_client_address(
        tmp_path: Path) -> None:
    answers = _run(tmp_path, proxy=True, peers=("127.0.0.1",), changes=True)
    for answer, client_port in answers:
        # The instance sees the client (not host A, not the hop) and the endpoint's address.
        assert answer.startswith(f"127.0.0.1:{client_port} to 127.0.0.1:"), answers


@needs_haproxy
def test_without_proxy_v2_the_instance_gets_plain_bytes(tmp_path: Path) -> None:
    [(answer, _)] = _run(tmp_path, proxy=False, peers=("127.0.0.1",))
    assert answer == "none"


@needs_haproxy
def test_the_hop_refuses_whoever_is_not_a_peer(tmp_path: Path) -> None:
    [(answer, _)] = _run(tmp_path, proxy=True, peers=("10.0.0.1",))
    assert answer == ""  # the hop closed the connection: nothing reached the instance
