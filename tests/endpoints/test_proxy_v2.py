"""The PROXY v2 header against the published spec (proxy-protocol.txt §2.2), byte by byte."""

from __future__ import annotations

import pytest

from platd.spec import proxy_v2

SIG = bytes([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A])


def test_signature_is_the_twelve_bytes_of_the_spec() -> None:
    assert proxy_v2.SIGNATURE == SIG


def test_tcp4_header_layout() -> None:
    h = proxy_v2.build(("192.0.2.10", 51234), ("127.0.0.1", 80))
    assert h[:12] == SIG
    assert h[12] == 0x21  # version 2, command PROXY
    assert h[13] == 0x11  # AF_INET, STREAM
    assert h[14:16] == (12).to_bytes(2, "big")
    assert h[16:20] == bytes([192, 0, 2, 10])
    assert h[20:24] == bytes([127, 0, 0, 1])
    assert h[24:26] == (51234).to_bytes(2, "big")
    assert h[26:28] == (80).to_bytes(2, "big")
    assert len(h) == 28


def test_tcp6_header_layout() -> None:
    h = proxy_v2.build(("2001:db8::7", 40000), ("::1", 443))
    assert h[12] == 0x21
    assert h[13] == 0x21  # AF_INET6, STREAM
    assert h[14:16] == (36).to_bytes(2, "big")
    assert h[16:32] == bytes.fromhex("20010db8000000000000000000000007")
    assert h[32:48] == bytes(15) + b"\x01"
    assert h[48:50] == (40000).to_bytes(2, "big")
    assert h[50:52] == (443).to_bytes(2, "big")
    assert len(h) == 52


def test_ipv4_mapped_addresses_are_sent_as_tcp4() -> None:
    h = proxy_v2.build(("::ffff:198.51.100.1", 1), ("::ffff:127.0.0.1", 2))
    assert h[13] == 0x11
    assert len(h) == 28


def test_local_header() -> None:
    h = proxy_v2.build_local()
    assert h == SIG + bytes([0x20, 0x00, 0x00, 0x00])
    assert proxy_v2.parse(h).command == "local"


@pytest.mark.parametrize(
    ("src", "dst"),
    [(("203.0.113.5", 65535), ("127.0.0.1", 0)), (("fe80::1", 1), ("2001:db8::1", 8080))],
)
def test_parse_round_trip(src: tuple[str, int], dst: tuple[str, int]) -> None:
    raw = proxy_v2.build(src, dst) + b"GET / HTTP/1.0\r\n"
    h = proxy_v2.parse(raw)
    assert (h.src_addr, h.src_port, h.dst_addr, h.dst_port) == (*src, *dst)
    assert raw[h.length:] == b"GET / HTTP/1.0\r\n"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"short", "at least 16"),
        (b"X" * 12 + bytes([0x21, 0x11, 0, 12]) + bytes(12), "signature"),
        (SIG + bytes([0x11, 0x11, 0, 12]) + bytes(12), "version 1"),
        (SIG + bytes([0x2F, 0x11, 0, 12]) + bytes(12), "unknown command"),
        (SIG + bytes([0x21, 0x11, 0, 12]) + bytes(4), "only 4"),
        (SIG + bytes([0x21, 0x31, 0, 0]), "unsupported"),
    ],
)
def test_parse_rejects_what_the_spec_forbids(raw: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        proxy_v2.parse(raw)


def test_build_refuses_mixed_families_and_bad_ports() -> None:
    with pytest.raises(ValueError, match="different families"):
        proxy_v2.build(("::1", 1), ("127.0.0.1", 2))
    with pytest.raises(ValueError, match="out of range"):
        proxy_v2.build(("127.0.0.1", 70000), ("127.0.0.1", 2))
