"""Identifiers for rows that replicate between hosts.

UUIDv7 (RFC 9562) puts a millisecond timestamp in the high bits, so ids sort by creation time,
index well in SQLite, and never collide between hosts that mint them independently.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def uuid7() -> str:
    """A new UUIDv7 as its canonical 36-character string, monotonic within this process."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or earlier) millisecond: keep order by counting up in the random field.
            ms = _last_ms
            rand = _last_rand + 1
            if rand >> 74:
                # The 74-bit counter is spent: borrow the next millisecond instead of wrapping.
                ms, rand = ms + 1, 0
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 6  # 74 random bits
        _last_ms, _last_rand = ms, rand
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def short_id(n: int = 10) -> str:
    """A short random lowercase id for things people type (instance ids)."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(n))
