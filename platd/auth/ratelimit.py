"""Counting failures per key (a client address) in a sliding window: wrong user codes and
wrong passwords. Pure: ``now`` comes from the caller."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_KEYS = 10_000


@dataclass
class FailureLimiter:
    limit: int = 10  # failures allowed per window
    window: float = 60.0
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        times = self._seen.get(key)
        if not times:
            return 0.0
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def fail(self, key: str, now: float) -> None:
        if key not in self._seen and len(self._seen) >= MAX_KEYS:
            # Forget the quietest keys rather than grow without bound.
            for old in [k for k, t in self._seen.items() if not t or now - t[-1] >= self.window]:
                del self._seen[old]
        self._seen.setdefault(key, deque()).append(now)
