"""``HOST:PORT`` strings as Serf writes them (``[::1]:7373`` for IPv6), split in one place."""

from __future__ import annotations

__all__ = ["parse_address"]


def parse_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:7373"`` or ``"[::1]:7373"`` -> (host, port); ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
