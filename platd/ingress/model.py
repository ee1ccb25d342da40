"""The data plane's whole input, as plain values: listeners, and the backends behind each.

A driver is told the complete desired ``IngressConfig`` every time; it diffs against what it
runs. Listeners are keyed by ``(family, address, port)``; connections already established keep
the backend they were given (they drain), new ones go to the current backend set.

On a cluster an endpoint's instances may run on other hosts than the one serving it: such a
backend is that host's ``Hop`` (``Backend.hop``), always spoken to with a PROXY v2 header whose
source is the client and whose destination is the endpoint's address; the hop reads the header,
finds the endpoint by that destination, and forwards to its own instances of the workload.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Backend:
    """One healthy instance as the proxy dials it."""

    host: str
    port: int
    instance_id: str = ""
    hop: bool = False  # another host's hop (the instance runs there): PROXY v2, always


@dataclass(frozen=True)
class Listener:
    family: str  # "ipv6" | "ipv4"
    address: str
    port: int
    endpoint_id: str
    name: str  # env path and endpoint name, for logs and HAProxy section names
    proxy_v2: bool
    backends: tuple[Backend, ...]

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.family, self.address, self.port)

    @property
    def bind(self) -> str:
        host = f"[{self.address}]" if self.family == "ipv6" else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Hop:
    """This host's end of cross-host endpoints: one listener on its cluster address that only
    the other hosts (``peers``) may reach, speaking PROXY v2; ``routes`` are the endpoints
    served elsewhere, as the serving host listens on them, each with this host's instances."""

    family: str
    address: str
    port: int
    peers: tuple[str, ...]
    routes: tuple[Listener, ...]

    @property
    def key(self) -> tuple[str, str, int]:
        return ("hop", self.address, self.port)

    @property
    def bind(self) -> str:
        host = f"[{self.address}]" if self.family == "ipv6" else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class IngressConfig:
    listeners: tuple[Listener, ...] = ()
    hop: Hop | None = None

    def by_key(self) -> dict[tuple[str, str, int], Listener]:
        return {lst.key: lst for lst in self.listeners}


@dataclass(frozen=True)
class ApplyResult:
    """What a driver could not do: listener key -> why (e.g. the address is in use)."""

    failed: dict[tuple[str, str, int], str]
