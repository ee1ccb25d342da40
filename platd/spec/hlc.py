"""Hybrid logical clock: the version stamp on every replicated desired-state row.

A 64-bit HLC packs wall-clock milliseconds (48 bits) and a logical counter (16 bits). It never
goes backwards on one host, advances past any stamp it has seen from a peer, and stays close to
real time, so "the larger (hlc, origin) wins" picks the latest write even when clocks drift.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

COUNTER_BITS = 16
COUNTER_MAX = (1 << COUNTER_BITS) - 1


def pack(millis: int, counter: int) -> int:
    return (millis << COUNTER_BITS) | counter


def unpack(stamp: int) -> tuple[int, int]:
    return stamp >> COUNTER_BITS, stamp & COUNTER_MAX


def wall_millis() -> int:
    return time.time_ns() // 1_000_000


class HybridLogicalClock:
    """Thread-safe HLC; the wall clock is injectable so tests can run in virtual time."""

    def __init__(self, now_millis: Callable[[], int] = wall_millis, last: int = 0) -> None:
        self._now = now_millis
        self._last = last
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        return self._last

    def now(self) -> int:
        """A stamp for a local event: greater than every stamp issued or observed before."""
        with self._lock:
            last_ms, last_c = unpack(self._last)
            wall = self._now()
            self._last = pack(wall, 0) if wall > last_ms else self._bump(last_ms, last_c)
            return self._last

    def observe(self, remote: int) -> int:
        """Merge a peer's stamp; returns a stamp greater than both it and everything local."""
        with self._lock:
            last_ms, last_c = unpack(self._last)
            rem_ms, rem_c = unpack(remote)
            wall = self._now()
            top = max(wall, last_ms, rem_ms)
            if top == wall and wall > last_ms and wall > rem_ms:
                self._last = pack(wall, 0)
            elif last_ms == rem_ms == top:
                self._last = self._bump(top, max(last_c, rem_c))
            elif top == last_ms:
                self._last = self._bump(top, last_c)
            else:
                self._last = self._bump(top, rem_c)
            return self._last

    @staticmethod
    def _bump(millis: int, counter: int) -> int:
        # Counter overflow borrows from the next millisecond rather than wrapping.
        if counter >= COUNTER_MAX:
            return pack(millis + 1, 0)
        return pack(millis, counter + 1)


def wins(a: tuple[int, str], b: tuple[int, str]) -> bool:
    """The merge rule for every replicated row: the larger (hlc, origin) wins."""
    return a > b
