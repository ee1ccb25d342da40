"""The PROXY protocol version 2 header (haproxy.org/download/2.6/doc/proxy-protocol.txt, §2.2).

An endpoint with ``proxy_protocol = "v2"`` sends this binary header as the very first bytes of
every connection toward the instance, so the app learns the original client address and port
even though the TCP connection comes from the proxy. Both data-plane drivers use it: the
built-in proxy sends the bytes built here; HAProxy builds its own (``send-proxy-v2``) and the
tests check both against ``parse``.

Layout (all integers in network byte order)::

    12 bytes  signature  \\r\\n\\r\\n\\0\\r\\nQUIT\\n
     1 byte   version (high nibble, 2) and command (low nibble: 0 LOCAL, 1 PROXY)
     1 byte   address family (high nibble: 1 INET, 2 INET6) and transport (low: 1 STREAM)
     2 bytes  length of what follows: 12 for TCP over IPv4, 36 for TCP over IPv6
     then     source address, destination address, source port, destination port
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
VERSION_2 = 0x20
CMD_LOCAL = 0x00
CMD_PROXY = 0x01
FAM_UNSPEC = 0x00
FAM_TCP4 = 0x11  # AF_INET, SOCK_STREAM
FAM_TCP6 = 0x21  # AF_INET6, SOCK_STREAM
_HEAD = struct.Struct("!12sBBH")
_TCP4 = struct.Struct("!4s4sHH")
_TCP6 = struct.Struct("!16s16sHH")


@dataclass(frozen=True)
class ProxyHeader:
    """What a header says: the client (source) and the address it connected to (destination)."""

    command: str  # "proxy" | "local"
    family: str  # "tcp4" | "tcp6" | "unspec"
    src_addr: str | None
    src_port: int | None
    dst_addr: str | None
    dst_port: int | None
    length: int  # bytes the header took, signature included


def _unmap(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def build(src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """The header for a TCP connection from ``src`` (the client) to ``dst`` (our listener).

    Both ends must be of one family; an IPv4-mapped IPv6 address counts as IPv4.
    """
    s, d = _unmap(src[0]), _unmap(dst[0])
    for port in (src[1], dst[1]):
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is out of range")
    if s.version != d.version:
        raise ValueError(f"source {s} and destination {d} are of different families")
    if s.version == 4:
        body = _TCP4.pack(s.packed, d.packed, src[1], dst[1])
        return _HEAD.pack(SIGNATURE, VERSION_2 | CMD_PROXY, FAM_TCP4, len(body)) + body
    body = _TCP6.pack(s.packed, d.packed, src[1], dst[1])
    return _HEAD.pack(SIGNATURE, VERSION_2 | CMD_PROXY, FAM_TCP6, len(body)) + body


def build_local() -> bytes:
    """A LOCAL header (no addresses): for connections the proxy makes on its own behalf."""
    return _HEAD.pack(SIGNATURE, VERSION_2 | CMD_LOCAL, FAM_UNSPEC, 0)


def parse(data: bytes) -> ProxyHeader:
    """Read a v2 header from the start of ``data``; ValueError says what is wrong with it."""
    if len(data) < _HEAD.size:
        raise ValueError(f"a v2 header is at least {_HEAD.size} bytes, got {len(data)}")
    sig, ver_cmd, fam, length = _HEAD.unpack_from(data)
    if sig != SIGNATURE:
        raise ValueError("no PROXY v2 signature")
    if ver_cmd >> 4 != 2:
        raise ValueError(f"version {ver_cmd >> 4}, expected 2")
    command = {CMD_LOCAL: "local", CMD_PROXY: "proxy"}.get(ver_cmd & 0x0F)
    if command is None:
        raise ValueError(f"unknown command {ver_cmd & 0x0F}")
    total = _HEAD.size + length
    if len(data) < total:
        raise ValueError(f"header says {length} bytes follow, only {len(data) - _HEAD.size} do")
    body = data[_HEAD.size:total]
    if command == "local" or fam == FAM_UNSPEC:
        return ProxyHeader(command, "unspec", None, None, None, None, total)
    if fam == FAM_TCP4:
        if length < _TCP4.size:
            raise ValueError(f"TCP4 needs {_TCP4.size} address bytes, got {length}")
        s, d, sp, dp = _TCP4.unpack_from(body)
        return ProxyHeader(command, "tcp4", str(ipaddress.IPv4Address(s)), sp,
                           str(ipaddress.IPv4Address(d)), dp, total)
    if fam == FAM_TCP6:
        if length < _TCP6.size:
            raise ValueError(f"TCP6 needs {_TCP6.size} address bytes, got {length}")
        s, d, sp, dp = _TCP6.unpack_from(body)
        return ProxyHeader(command, "tcp6", str(ipaddress.IPv6Address(s)), sp,
                           str(ipaddress.IPv6Address(d)), dp, total)
    raise ValueError(f"unsupported family/transport byte 0x{fam:02x}")
