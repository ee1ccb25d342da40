"""Who is alive, as this host's gossip sees it, and since when a host is not.

Placement asks this on every computation (a deploy, a scale, the re-placement watch): Serf
says a member is alive or failed but not since when, and a failed host keeps its instances for
a grace period before they move. ``update`` is fed the member list every second by the cluster
node; the first time a host is seen not alive starts its clock, and a host back from being cut
off starts it again for those it still does not see (it could not tell their absence from its
own). No I/O here (a lock: the API's worker threads read it while the node's task writes it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from platd.spec.assign import DEFAULT_GRACE


class Membership:
    def __init__(self, host_id: str, grace: float = DEFAULT_GRACE) -> None:
        self.host_id = host_id
        self.grace = grace
        self._lock = threading.Lock()
        self._state: dict[str, str] = {host_id: "alive"}
        self._since: dict[str, float] = {}
        self.seen = False  # a member list arrived at least once
        self._cut_off_since: float | None = None
        self._fenced = False
        self._awaiting_sync = False  # back in the majority, fenced until a sync with it
        # Hosts back from failed/left whose own rows have not been pulled since: what this
        # host holds of them is their word from before (``returning``).
        self._returning: set[str] = set()
        self.listeners: list[Callable[[], None]] = []  # told when this host fences or unfences

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
                    if self._state.get(host, "alive") != "alive":
                        self._returning.add(host)
                    self._since.pop(host, None)
                else:
                    self._returning.discard(host)
                    self._since.setdefault(host, now)
            self._state = state
            self.seen = True
            alive = sorted(h for h, w in state.items() if w == "alive")
            # The minority side of a partition (or the half without the smallest host id)
            # is the side whose instances the others will place again once the grace is over.
            minority = len(alive) * 2 < len(state) or (
                len(alive) * 2 == len(state) and min(state) not in alive)
            if not minority:
                if self._cut_off_since is not None:
                    # Back in the majority. While cut off, this host could not tell the
                    # others' absence from its own; gossip re-merges one member at a time, so
                    # a peer it does not see yet may be alive: its grace starts now, or this
                    # host (the smallest id alive, as it sees it) would move that live host's
                    # slots onto itself and both would run them.
                    for host, word in state.items():
                        if word != "alive":
                            self._since[host] = now
                self._cut_off_since = None
            elif self._cut_off_since is None:
                self._cut_off_since = now
            fenced = self._cut_off_since is not None and \
                now - self._cut_off_since >= self.grace / 2
            if self._fenced and not fenced:
                # Back with the majority, which may have placed this host's instances on
                # others meanwhile: their assignments have not arrived yet, so running the
                # old ones now would run them twice. Fenced until a sync (``synced``).
                self._awaiting_sync = True
            if self._awaiting_sync:
                fenced = True
            flipped = fenced != self._fenced
            self._fenced = fenced
        if flipped:
            for listener in self.listeners:
                listener()
        return changed

    def fenced(self) -> bool:
        """Cut off from most of the cluster for half the grace period: this host's instances
        will be placed elsewhere when the grace is over, so it stops them first (no instance
        ever runs twice). It runs them again once it sees the others and their assignments."""
        with self._lock:
            return self._fenced

    def awaiting_sync(self) -> bool:
        """Back in the majority after being fenced: a sync with a peer must come first."""
        with self._lock:
            return self._awaiting_sync and self._cut_off_since is None

    def synced(self) -> None:
        """A sync with a majority peer finished: this host has the assignments made while it
        was cut off, and may run what they give it."""
        with self._lock:
            if not self._awaiting_sync or self._cut_off_since is not None:
                return
            self._awaiting_sync = False
            self._fenced = False
        for listener in self.listeners:
            listener()

    def returning(self, host_id: str) -> bool:
        """Back from failed or left, and not heard from since: the rows held here of what it
        runs are from before its absence (it may have stopped them, or lost them). They count
        again once ``reported`` says its own rows were pulled after its return."""
        with self._lock:
            return host_id in self._returning

    def returning_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._returning)

    def reported(self, host_id: str) -> None:
        """``host_id``'s own rows were pulled from it after its return."""
        with self._lock:
            self._returning.discard(host_id)

    def cut_off(self) -> bool:
        """In the minority of what gossip sees (fenced or about to be): places nothing."""
        with self._lock:
            return self._cut_off_since is not None

    def view(self) -> tuple[int, int]:
        """(hosts alive, hosts known), as this host sees them."""
        with self._lock:
            return sum(1 for w in self._state.values() if w == "alive"), len(self._state)

    def state(self, host_id: str) -> tuple[str, float | None]:
        """``(alive|failed|left|unknown, since when not alive)``."""
        with self._lock:
            return self._state.get(host_id, "unknown"), self._since.get(host_id)

    def alive_ids(self) -> list[str]:
        with self._lock:
            return sorted(h for h, s in self._state.items() if s == "alive")
