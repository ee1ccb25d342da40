"""When to try a peer that gossip calls failed: often while the failure is fresh, rarely later.

Anti-entropy, not Serf, guarantees convergence, so it must not wait for Serf to call a peer
alive again. After a partition heals, Serf re-merges slowly: each agent retries one random
failed member per ``reconnect_interval``, and while the cut lasted that try hung in a 10 s TCP
dial, so the sides met 5-10 s after the heal. The replicator therefore also asks every member
gossip marks *failed* (never one that left: leaving is deliberate) for its high-water marks,
with a short connect timeout, and pulls from it as soon as it answers.

This module only decides *when*: pure bookkeeping over names and a clock, no I/O. A fresh
failure is tried every second (the heal is found within about a second); a peer that answered
but is still failed in gossip is tried every two seconds, so the rows written on its side keep
coming until Serf catches up; one failed for minutes every 10 s, for an hour every 60 s, so a
host that is gone for good costs a dropped connection attempt now and then. A peer asking us
(it reached us, so the cut is gone) is tried at once, unless it was reached a moment ago:
otherwise two hosts would keep nudging each other for as long as gossip lags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BACKOFF", "REACHED_EVERY", "ProbeSchedule"]

# (failed for at least this many seconds, try every this many seconds)
BACKOFF: tuple[tuple[float, float], ...] = ((0.0, 1.0), (300.0, 10.0), (3600.0, 60.0))
REACHED_EVERY = 2.0  # answered last time, still failed in gossip: its new rows, not its return


@dataclass
class _Peer:
    api: str
    since: float  # first seen failed
    next_try: float
    busy: bool = False
    reached_at: float | None = None  # the last try that answered


class ProbeSchedule:
    """The failed peers this host tries, and which of them are due."""

    def __init__(self, backoff: tuple[tuple[float, float], ...] = BACKOFF,
                 reached_every: float = REACHED_EVERY) -> None:
        self.backoff = backoff
        self.reached_every = reached_every
        self._peers: dict[str, _Peer] = {}

    def every(self, failed_for: float) -> float:
        """Seconds between two tries of a peer failed for ``failed_for`` seconds."""
        wait = self.backoff[0][1]
        for after, step in self.backoff:
            if failed_for >= after:
                wait = step
        return wait

    def update(self, failed: Mapping[str, str], now: float) -> None:
        """Gossip's current failed members (name -> API address): new ones are due at once;
        ones no longer failed (alive again, left, forgotten) are dropped."""
        for name in set(self._peers) - set(failed):
            del self._peers[name]
        for name, api in failed.items():
            peer = self._peers.get(name)
            if peer is None:
                self._peers[name] = _Peer(api, since=now, next_try=now)
            else:
                peer.api = api

    def due(self, now: float) -> list[tuple[str, str]]:
        """(name, api) of each peer to try now, marked busy until ``done``: a try that hangs
        holds up nobody else, and one peer is never tried twice at once."""
        out = []
        for name, peer in sorted(self._peers.items()):
            if peer.busy or now < peer.next_try:
                continue
            peer.busy = True
            out.append((name, peer.api))
        return out

    def done(self, name: str, now: float, *, reached: bool, started: float) -> None:
        """A try that began at ``started`` ended at ``now``."""
        peer = self._peers.get(name)
        if peer is None:
            return  # no longer failed meanwhile
        peer.busy = False
        if reached:
            peer.reached_at = now
            wait = max(self.reached_every, self.every(started - peer.since))
        else:
            wait = self.every(started - peer.since)
        peer.next_try = max(started + wait, now)

    def asked_by(self, name: str, now: float) -> bool:
        """``name`` sent us a request, so it can reach us: make it due at once, unless it is
        not a failed peer, is being tried, or answered within ``reached_every``."""
        peer = self._peers.get(name)
        if peer is None or peer.busy:
            return False
        if peer.reached_at is not None and now - peer.reached_at < self.reached_every:
            return False
        peer.next_try = now
        return True

    def failed(self) -> dict[str, str]:
        return {name: peer.api for name, peer in self._peers.items()}
