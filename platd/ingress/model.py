"""The data plane's whole input, as plain values: listeners, and the backends behind each.

A driver is told the complete desired ``IngressConfig`` every time; it diffs against what it
runs. Listeners are keyed by ``(family, address, port)``; connections already established keep
the backend they were given (they drain), new ones go to the current backend set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Backend:
    """One healthy instance as the proxy dials it."""

    host: str
    port: int
    instance_id: str = ""


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
class IngressConfig:
    listeners: tuple[Listener, ...] = ()

    def by_key(self) -> dict[tuple[str, str, int], Listener]:
        return {lst.key: lst for lst in self.listeners}


@dataclass(frozen=True)
class ApplyResult:
    """What a driver could not do: listener key -> why (e.g. the address is in use)."""

    failed: dict[tuple[str, str, int], str]
