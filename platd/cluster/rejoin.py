"""Re-merge with a failed peer as soon as it answers again, instead of waiting for Serf.

Serf heals a partition by itself, slowly: every ``reconnect_interval`` each agent tries ONE
random failed member, and the try is synchronous, so while the partition lasts it hangs in
memberlist's TCP dial (10 s with the lan profile) and the next try comes only after that plus
the interval. Measured at 10 hosts cut 5|5: the agents saw each other alive again 5-6 s after
the heal, and plat's state (whose membership events are rows too) converged only after that.

So while any member is failed, this host asks every failed member's peer API, once a second,
for its high-water marks (a signed request; failures cost a dropped connection attempt). When
one answers, this host asks its own agent to join that member's gossip address (Serf RPC
``join``: a memberlist push/pull, which is what Serf's reconnect does, but now and with that
member) and pulls what it lacks from it at once (anti-entropy with it). Every host does this
with every failed member that answers, so both sides of a healed cut meet within about a
second. Serf's own reconnect keeps running; this only gets there first.

A member failed for long is asked less often (every ``slow_every`` seconds after
``slow_after``), so a host that is gone for good costs little. Members that left are never
asked: leaving is deliberate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from platd.cluster.transport import PeerTransport, PeerUnreachable
from platd.gossip.address import format_address
from platd.gossip.errors import GossipError
from platd.gossip.types import Member
from platd.spec.errors import StorageFull

log = logging.getLogger("platd.cluster")

__all__ = ["Rejoiner"]

EVERY = 1.0  # seconds between two looks at the member list
# A peer that answers at all answers its marks within this, even on a loaded host (a TLS
# handshake and a signed request: 1 s was too short at a load of 25 on two cores). While the
# cut lasts each try hangs this long; tries with one member never overlap.
PROBE_TIMEOUT = 3.0
SLOW_AFTER = 600.0  # failed this long: asked only every SLOW_EVERY seconds
SLOW_EVERY = 10.0

Join = Callable[[Sequence[str]], Awaitable[int]]
Sync = Callable[[str], Awaitable[int]]


class Rejoiner:
    """Watches the member list; for each failed member that answers its peer API again,
    joins it through gossip (``join``) and pulls from it (``sync``)."""

    def __init__(
        self,
        me: str,
        members: Callable[[], Awaitable[list[Member]]],
        transport: PeerTransport,
        join: Join,
        sync: Sync,
        *,
        every: float = EVERY,
        probe_timeout: float = PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.me = me
        self._members = members
        self._transport = transport
        self._join = join
        self._sync = sync
        self.every = every
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._failed_since: dict[str, float] = {}
        self._next_try: dict[str, float] = {}
        self._busy: set[str] = set()
        self._told: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.rejoined = 0  # members this host brought back (tests and logs)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.every)
                try:
                    members = await self._members()
                except GossipError:
                    continue
                self.check(members)
        finally:
            for task in self._tasks:
                task.cancel()

    def check(self, members: Sequence[Member]) -> None:
        """Start a try with each failed member that is due (each runs on its own: a peer
        that does not answer holds up nobody else)."""
        now = self._clock()
        failed = {m.name: m for m in members
                  if m.name != self.me and m.status == "failed" and m.tags.get("api")}
        for gone in set(self._failed_since) - set(failed):
            self._failed_since.pop(gone, None)
            self._next_try.pop(gone, None)
            self._told.discard(gone)
        for name, member in failed.items():
            since = self._failed_since.setdefault(name, now)
            if name in self._busy or now < self._next_try.get(name, 0.0):
                continue
            wait = SLOW_EVERY if now - since > SLOW_AFTER else self.every
            self._next_try[name] = now + wait
            self._busy.add(name)
            task = asyncio.ensure_future(self._try(member))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _try(self, member: Member) -> None:
        api = member.tags["api"]
        try:
            try:
                async with asyncio.timeout(self.probe_timeout):
                    await self._transport.high_water(api)
            except (PeerUnreachable, TimeoutError):
                return  # still cut off (or down): the next look tries again
            address = format_address(member.addr, member.port)
            try:
                joined = await self._join([address])
            except GossipError as e:
                # Its platd answers but its agent does not (restarting, or gossip blocked):
                # said once per absence, not every second.
                if member.name not in self._told:
                    self._told.add(member.name)
                    log.info("host %s answers on %s but gossip could not join it yet: %s",
                             member.name, api, e)
                joined = 0
            if joined:
                self.rejoined += 1
                log.info("host %s answers again on %s: gossip rejoined it at %s",
                         member.name, api, address)
            try:
                await self._sync(api)  # its rows (and the other side's) now, not next round
            except PeerUnreachable as e:
                log.info("anti-entropy with returning host %s failed: %s", member.name, e)
            except StorageFull as e:
                log.warning("could not merge rows from %s: %s", member.name, e.message)
        finally:
            self._busy.discard(member.name)
