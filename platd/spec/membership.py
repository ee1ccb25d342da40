"""Who is alive, as this host's gossip sees it, and since when a host is not.

Placement asks this on every computation (a deploy, a scale, the re-placement watch): Serf
says a member is alive or failed but not since when, and a failed host keeps its instances for
a grace period before they move. ``update`` is fed the member list every second by the cluster
node; the first time a host is seen not alive starts its clock. No I/O here (a lock: the
API's worker threads read it while the node's task writes it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from platd.spec.assign import DEFAULT_GRACE


class Membership:
    def __init__(self, host_id: str, grace: float = DEFAULT_GRACE) -> None:
        self.host_id = host_id
        self.grace = grace
        self._lock = threading.Lock()
        self._state: dict[str, str] = {host_id: "alive"}
        self._since: dict[str, float] = {}
        self.seen = False  # a member list arrived at least once

    def update(self, members: Iterable[tuple[str, str]], now: float) -> bool:
        """Take gossip's member list as (host id, status); True when some host's state
        changed."""
        words = {"alive": "alive", "leaving": "alive", "left": "left", "failed": "failed"}
        state = {name: words.get(status, "failed") for name, status in members}
        state[self.host_id] = "alive"
        with self._lock:
            changed = state != self._state
            for host, word in state.items():
                if word == "alive":
                    self._since.pop(host, None)
                else:
                    self._since.setdefault(host, now)
            self._state = state
            self.seen = True
        return changed

    def state(self, host_id: str) -> tuple[str, float | None]:
        """``(alive|failed|left|unknown, since when not alive)``."""
        with self._lock:
            return self._state.get(host_id, "unknown"), self._since.get(host_id)

    def alive_ids(self) -> list[str]:
        with self._lock:
            return sorted(h for h, s in self._state.items() if s == "alive")
