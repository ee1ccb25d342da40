"""One conformance suite, run against both data-plane drivers (built-in and HAProxy).

The drivers get the same ``IngressConfig`` values platd would compute; the backends are small
TCP servers on loopback that say who they are. What must hold for both: IPv6 and IPv4 clients
reach the app, IPv4 is closed unless enabled, connections are spread over the instances, a
change of the backend set (a deploy, a rollback) never refuses a connection, an established
connection survives unrelated changes, and PROXY v2 reaches a real peer (nginx) intact.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from platd.ingress.driver import IngressDriver
from platd.ingress.model import Backend as B
from platd.ingress.model import IngressConfig, Listener
from tests.endpoints.conftest import (
    Backend,
    Nginx,
    a_first_line,
    first_line,
    free_port,
    with_driver,
)


def listener(port: int, backends: list[Backend], *, family: str = "ipv6",
             proxy: bool = False, endpoint: str = "ep1") -> Listener:
    address = "::1" if family == "ipv6" else "127.0.0.1"
    return Listener(family, address, port, endpoint, f"acme/shop/hello/prod {endpoint}", proxy,
                    tuple(B("127.0.0.1", b.port, b.name) for b in backends))


def both(port: int, backends: list[Backend], **kw: object) -> tuple[Listener, Listener]:
    return (listener(port, backends, family="ipv6", **kw),  # type: ignore[arg-type]
            listener(port, backends, family="ipv4", **kw))  # type: ignore[arg-type]


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_ipv6_and_ipv4_clients_reach_the_app(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    port = free_port()

    async def body(d: IngressDriver) -> None:
        result = await d.apply(IngressConfig(both(port, backends[:1])))
        assert result.failed == {}
        assert await a_first_line("::1", port) == "b0"
        assert await a_first_line("127.0.0.1", port) == "b0"

    with_driver(driver_kind, tmp_path, body)


def test_ipv4_is_closed_unless_enabled(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    port = free_port()

    async def body(d: IngressDriver) -> None:
        await d.apply(IngressConfig((listener(port, backends[:1]),)))
        assert await a_first_line("::1", port) == "b0"
        assert await asyncio.to_thread(refused, "127.0.0.1", port)
        # Turning IPv4 on later opens it; turning it off again closes it.
        await d.apply(IngressConfig(both(port, backends[:1])))
        assert await a_first_line("127.0.0.1", port) == "b0"
        await d.apply(IngressConfig((listener(port, backends[:1]),)))
        assert await asyncio.to_thread(refused, "127.0.0.1", port)

    with_driver(driver_kind, tmp_path, body)


def test_connections_are_spread_across_instances(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    port = free_port()

    async def body(d: IngressDriver) -> None:
        await d.apply(IngressConfig((listener(port, backends),)))
        seen = Counter([await a_first_line("::1", port) for _ in range(30)])
        assert set(seen) == {"b0", "b1", "b2"}
        assert min(seen.values()) >= 5, seen

    with_driver(driver_kind, tmp_path, body)


def test_no_healthy_instance_means_no_connection_kept_open(
    driver_kind: str, tmp_path: Path,
) -> None:
    port = free_port()

    async def body(d: IngressDriver) -> None:
        await d.apply(IngressConfig((listener(port, []),)))

        def closed_at_once() -> bool:
            try:
                with socket.create_connection(("::1", port), timeout=5) as c:
                    return c.recv(10) == b""
            except ConnectionError:
                return True

        assert await asyncio.to_thread(closed_at_once)

    with_driver(driver_kind, tmp_path, body)


class Hammer:
    """New connections back to back from a thread; counts which backend answered each."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                line = first_line("::1", self.port)
                if line:
                    self.seen[line] += 1
                else:
                    self.failures.append("closed without an answer")
            except OSError as e:
                self.failures.append(repr(e))
            time.sleep(0.002)

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_follows_a_deploy_and_a_rollback_without_refusing(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    """v1 -> v2 -> v1 again (new instances), each old instance stopped once the change applied."""
    port = free_port()
    v1, v2 = backends[:1], backends[1:]
    v1_again = [Backend("b3")]

    async def body(d: IngressDriver) -> Hammer:
        await d.apply(IngressConfig((listener(port, v1),)))
        with Hammer(port) as hammer:
            await asyncio.sleep(0.5)
            await d.apply(IngressConfig((listener(port, v1 + v2),)))  # new instances healthy
            await asyncio.sleep(0.5)
            await d.apply(IngressConfig((listener(port, v2),)))  # old one drained...
            v1[0].close()  # ...then stopped, like the reconciler does
            await asyncio.sleep(0.1)  # connections accepted before the change finish on v1
            before = Counter(hammer.seen)
            await asyncio.sleep(0.5)
            after_deploy = hammer.seen - before
            await d.apply(IngressConfig((listener(port, v2 + v1_again),)))  # rollback
            await asyncio.sleep(0.5)
            await d.apply(IngressConfig((listener(port, v1_again),)))
            for b in v2:
                b.close()
            await asyncio.sleep(0.1)
            before = Counter(hammer.seen)
            await asyncio.sleep(0.5)
            after_rollback = hammer.seen - before
        assert after_deploy, "no connection after the deploy"
        assert set(after_deploy) <= {"b1", "b2"}, after_deploy
        assert set(after_rollback) == {"b3"}, after_rollback
        return hammer

    try:
        hammer = with_driver(driver_kind, tmp_path, body)
    finally:
        v1_again[0].close()
    assert hammer.failures == []
    assert sum(hammer.seen.values()) > 50


def test_long_lived_connection_survives_unrelated_changes(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    port, other = free_port(), free_port()

    async def body(d: IngressDriver) -> None:
        await d.apply(IngressConfig((listener(port, backends[:1]),)))
        conn = await asyncio.to_thread(socket.create_connection, ("::1", port), 5)
        try:
            conn.settimeout(5)
            assert (await asyncio.to_thread(conn.recv, 100)).strip() == b"b0"
            changes = [
                (listener(port, backends[:1]), listener(other, backends[1:2], endpoint="ep2")),
                (listener(port, backends[:1]), *both(other, backends[1:], endpoint="ep2")),
                (listener(port, backends[:1]),),
                # Even its own endpoint's backend set changing leaves it alone (draining).
                (listener(port, backends[1:]),),
            ]
            for i, change in enumerate(changes):
                await d.apply(IngressConfig(change))
                msg = f"still here {i}\n".encode()
                await asyncio.to_thread(conn.sendall, msg)
                assert await asyncio.to_thread(conn.recv, 100) == msg
        finally:
            conn.close()

    with_driver(driver_kind, tmp_path, body)


def test_a_listener_that_cannot_bind_is_reported_and_the_rest_works(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    port, busy = free_port(), free_port()
    holder = socket.socket(socket.AF_INET6)
    holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    holder.bind(("::1", busy))
    holder.listen()

    async def body(d: IngressDriver) -> None:
        result = await d.apply(IngressConfig((listener(port, backends[:1]),
                                              listener(busy, backends[:1], endpoint="ep2"))))
        assert set(result.failed) == {("ipv6", "::1", busy)}
        assert "in use" in result.failed[("ipv6", "::1", busy)]
        assert await a_first_line("::1", port) == "b0"

    try:
        with_driver(driver_kind, tmp_path, body)
    finally:
        holder.close()


@pytest.mark.parametrize("client", ["::1", "127.0.0.1"])
def test_proxy_v2_reaches_nginx_with_the_original_client(
    driver_kind: str, tmp_path: Path, nginx_proxy_peer: Nginx, client: str,
) -> None:
    """nginx (``listen ... proxy_protocol``) is the instance; it reports who the client was."""
    port = free_port()

    def ask() -> tuple[str, int]:
        with socket.create_connection((client, port), timeout=5) as c:
            local = c.getsockname()
            c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        return data.decode(), int(local[1])

    async def body(d: IngressDriver) -> tuple[str, int]:
        backend = B("127.0.0.1", nginx_proxy_peer.port, "nginx")
        lst = [Listener(fam, addr, port, "ep", "t", True, (backend,))
               for fam, addr in (("ipv6", "::1"), ("ipv4", "127.0.0.1"))]
        await d.apply(IngressConfig(tuple(lst)))
        return await asyncio.to_thread(ask)

    answer, local_port = with_driver(driver_kind, tmp_path, body)
    assert "200 OK" in answer
    assert f"client={client} port={local_port}" in answer


def test_bulk_bytes_and_half_close_pass_through_intact(
    driver_kind: str, tmp_path: Path, backends: list[Backend],
) -> None:
    """8 MiB up, then a half-close; the echo comes back whole, then the close does."""
    port = free_port()
    payload = hashlib.sha256(b"seed").digest() * (8 * 1024 * 1024 // 32)

    def exchange() -> bytes:
        with socket.create_connection(("::1", port), timeout=10) as c:
            received = bytearray()

            def read() -> None:
                while chunk := c.recv(1 << 16):
                    received.extend(chunk)

            reader = threading.Thread(target=read)
            reader.start()
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            reader.join(timeout=30)
            return bytes(received)

    async def body(d: IngressDriver) -> bytes:
        await d.apply(IngressConfig((listener(port, backends[:1]),)))
        return await asyncio.to_thread(exchange)

    got = with_driver(driver_kind, tmp_path, body)
    assert got == b"b0\n" + payload
