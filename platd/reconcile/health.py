"""Health probes: a TCP connect or an HTTP GET against one instance, with a timeout.

Probes go to the instance's address on the engine's bridge network (or its loopback-published
port when it has no bridge address), never anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from platd.spec.manifest import HealthCheck


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


Prober = Callable[[HealthCheck, str, int], Awaitable[ProbeResult]]


async def always_healthy(check: HealthCheck, host: str, port: int) -> ProbeResult:
    """The prober for the fake runtime, whose instances have no real address to probe."""
    return ProbeResult(True, f"simulated: port {port} answers")


async def probe(check: HealthCheck, host: str, port: int) -> ProbeResult:
    try:
        return await asyncio.wait_for(_probe(check, host, port), timeout=check.timeout)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {check.timeout:g}s on port {port}")
    except OSError as e:
        return ProbeResult(False, f"port {port}: {e.strerror or e}")


async def _probe(check: HealthCheck, host: str, port: int) -> ProbeResult:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if check.http is None:
            return ProbeResult(True, f"tcp port {port} accepts connections")
        request = (
            f"GET {check.http.path} HTTP/1.0\r\nHost: {host}:{port}\r\n"
            "User-Agent: platd-health\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").strip()
        parts = status_line.split(" ", 2)
        code = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        if 200 <= code < 400:
            return ProbeResult(True, f"GET {check.http.path} answered {code}")
        shown = status_line or "an empty response"
        return ProbeResult(False, f"GET {check.http.path} on port {port} answered {shown!r}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
