"""The wall clock as a boundary: whatever records a time (events, observed rows, releases) asks a
``Clock`` it was given, so tests run in a time they set instead of sleeping.

``SystemClock`` is the real one; ``ManualClock`` is the fake (it moves only when told). The
hybrid logical clock that stamps replicated rows (``platd.spec.hlc``) takes its milliseconds
from a callable the same way.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, like ``time.time()``."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until ``advance`` or ``set`` moves it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        # For the parts that take a plain callable (the fake runtime).
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = now
