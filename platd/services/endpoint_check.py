"""Does an endpoint answer? One real request through it, and a listening check for status.

Onboarding ends with a request that works, so ``plat endpoints check NAME`` makes one: a TCP
connection to the endpoint's first address from this host, an HTTP/1.0 ``GET /`` (most apps
speak HTTP; an app that does not still shows whether it answers at all), and a report of what
came back: the first line, the bytes, the time to connect and to the first byte. With PROXY v2
on, the header the app received is the one the data plane writes for this connection: our own
address as the source and the endpoint's address as the destination, both known here.

``plat status`` shows each endpoint's addresses and, per address, whether something accepts a
TCP connection there (a short connect, no request): "listening" is what a connect can prove;
"answers" is left to the check, which really asks.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from sqlmodel import Session

from platd.auth.tokens import Principal
from platd.services import endpoints as endpoint_service
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.store.queries import env_instances, live_endpoints

CONNECT_TIMEOUT = 3.0  # seconds for the check's connection
ANSWER_TIMEOUT = 5.0  # seconds the check waits for the whole answer
MAX_ANSWER = 64 * 1024  # bytes the check reads at most
LISTEN_TIMEOUT = 0.3  # seconds status waits for one address to accept


def _split(address: str) -> tuple[str, int]:
    """``[::1]:8443`` or ``127.0.0.1:8443`` as (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listening(address: str, timeout: float = LISTEN_TIMEOUT) -> bool:
    host, port = _split(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def endpoint_rows(ctx: ServiceContext, session: Session,
                  ref: tenancy.EnvRef) -> list[dict[str, Any]]:
    """Each endpoint of the env with the instances behind it, read in the caller's session
    (``plat status`` reads its other rows in the same one); ``listening_endpoints`` then asks
    the sockets, outside it."""
    reach = ctx.endpoints.reach(ctx.membership)
    rows = live_endpoints(session, ref.env.id)
    instances = env_instances(session, ref.env.id) if rows else []
    return [endpoint_service.to_dict(session, r, ref.path, reach, instances) for r in rows]


def listening_endpoints(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": e["name"],
            "workload": e["workload"],
            "addresses": [{"address": a, "listening": listening(a)} for a in e["addresses"]],
            "serving": sum(1 for i in e["instances"] if i["serving"]),
            "proxy_protocol": e["proxy_protocol"],
        }
        for e in rows
    ]


def check(ctx: ServiceContext, principal: Principal, target: str, name: str) -> dict[str, Any]:
    """One HTTP request through endpoint ``name``; what came back (never raises on the answer:
    a refusal or silence is the result, said in ``outcome``)."""
    e = endpoint_service.describe(ctx, principal, target, name)
    report: dict[str, Any] = {
        "target": e["target"], "name": e["name"], "addresses": e["addresses"],
        "serving": sum(1 for i in e["instances"] if i["serving"]),
        "from_host": ctx.host.name,
    }
    if not e["addresses"]:
        return {**report, "address": None, "outcome": "no_address", "answered": False}
    address = e["addresses"][0]
    return {**report, **request(address, e["proxy_protocol"])}


def request(address: str, proxy_protocol: str | None) -> dict[str, Any]:
    """``GET /`` to ``address``: outcome, timings (ms), bytes and the answer's first line."""
    host, port = _split(address)
    out: dict[str, Any] = {"address": address, "request": "GET / HTTP/1.0", "bytes": 0,
                           "connect_ms": None, "first_byte_ms": None, "total_ms": None,
                           "first_line": None, "proxy_header": None, "answered": False}
    started = time.perf_counter()
    try:
        conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except ConnectionRefusedError:
        return {**out, "outcome": "refused"}
    except TimeoutError:
        return {**out, "outcome": "connect_timeout"}
    except OSError as exc:
        return {**out, "outcome": "unreachable", "error": exc.strerror or str(exc)}
    out["connect_ms"] = _ms(started)
    data = b""
    try:
        local = conn.getsockname()
        if proxy_protocol == "v2":
            out["proxy_header"] = {"version": 2, "source": _show(local[0], local[1]),
                                   "destination": _show(host, port)}
        conn.settimeout(ANSWER_TIMEOUT)
        conn.sendall(f"GET / HTTP/1.0\r\nHost: {_show(host, port)}\r\n"
                     "User-Agent: plat-check\r\nConnection: close\r\n\r\n".encode())
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while len(data) < MAX_ANSWER and time.monotonic() < deadline:
            chunk = conn.recv(65536)
            if not chunk:
                break
            if not data:
                out["first_byte_ms"] = _ms(started)
            data += chunk
        outcome = "answered" if data else "closed"
    except TimeoutError:
        outcome = "answered" if data else "answer_timeout"
    except OSError:
        outcome = "answered" if data else "reset"
    finally:
        conn.close()
    out["total_ms"] = _ms(started)
    out["bytes"] = len(data)
    if data:
        out["first_line"] = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")[:200]
    return {**out, "outcome": outcome, "answered": bool(data)}


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
