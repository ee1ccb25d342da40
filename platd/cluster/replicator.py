"""Every host converges to the same desired state, with no leader.

Writes stay local. After a commit, this host whispers a hint through gossip ("origin H has rows
up to stamp S", well under 100 bytes); a host that hears of rows it lacks pulls them from that
origin over the peer API and merges them (``Store.apply_remote``). Hints are only hints: Serf
drops them in bursts and across partitions. What guarantees convergence is anti-entropy: every
``interval`` seconds, and at once when a peer joins, comes back or this host missed events, it
swaps high-water marks with one live peer and pulls whatever it is missing, from any origin.
Because the merge is idempotent and order-independent, pulling the same rows twice, or from two
peers at once, is harmless.

Anti-entropy does not wait for gossip to call a peer alive: peers Serf marks *failed* are tried
too (``reach.ProbeSchedule`` says when: every second while the failure is fresh), with a short
TCP connect timeout and each on its own, and pulled from as soon as they answer. A failed peer
that asks us for our marks is pulled from at once (``asked_by``): it reached us, so the cut is
gone, and it learns our rows while we learn its. So a healed partition converges about a second
after the heal, not after Serf's re-merge (5-10 s: its reconnect tries one random failed member
at a time, and each try hung in a 10 s dial while the cut lasted).

``synced`` is set after the first successful round (or at once on a host that has never had a
peer): a host back from an absence converges before its reconciler acts on what it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from platd.cluster.reach import ProbeSchedule
from platd.cluster.transport import PeerTransport, PeerUnreachable
from platd.gossip.errors import GossipError
from platd.gossip.protocol import Gossip
from platd.gossip.types import EventsLost, Member, MemberEvent, UserEvent
from platd.spec.errors import StorageFull
from platd.spec.hlc import unpack
from platd.store.changes import ChangeSet
from platd.store.db import Store

log = logging.getLogger("platd.cluster")

HINT_EVENT = "plat-hint"
PAGE = 1000
REACH_TICK = 0.5  # seconds between two looks for failed peers that are due a try
# A peer behind a cut drops the SYN: the try ends after this. A reachable one accepts at once
# (the kernel does, however loaded the peer), and its first retransmitted SYN would come only
# after 1 s anyway.
REACH_CONNECT = 1.0


@dataclass(frozen=True)
class PeerView:
    """A live peer as gossip shows it: its host id and where its API answers."""

    host_id: str
    api: str


def live_peers(members: list[Member], me: str) -> list[PeerView]:
    return [
        PeerView(m.name, m.tags["api"])
        for m in members
        if m.name != me and m.status == "alive" and m.tags.get("api")
    ]


class Replicator:
    def __init__(
        self,
        store: Store,
        gossip: Gossip,
        transport: PeerTransport,
        *,
        interval: float = 10.0,
        page: int = PAGE,
        rng: random.Random | None = None,
        on_membership: Callable[[MemberEvent], None] | None = None,
        after_merge: Callable[[ChangeSet], None] | None = None,
    ) -> None:
        self.store = store
        self.gossip = gossip
        self.transport = transport
        self.interval = interval
        self.page = page
        self.rng = rng or random.Random()
        self.on_membership = on_membership
        self.after_merge = after_merge
        self.synced = asyncio.Event()
        self.last_sync: float | None = None  # wall time of the last successful round
        self.known: dict[str, int] = {}  # per origin, the newest stamp heard of anywhere
        self.rows_pulled = 0
        self._hint = 0
        self._hint_wake = asyncio.Event()
        self._round_wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed_peers = ProbeSchedule()
        self._reach_wake = asyncio.Event()
        # One pull from a failed peer at a time: after a heal every host reaches the whole
        # other side at once, and those peers hold the same rows (their side shared them
        # during the cut): the first pull takes them, the next ones find nothing to take. Ten
        # hosts pulling from five peers each at once took 1-3.6 s per pull on two cores.
        self._failed_pulls = asyncio.Semaphore(1)
        self.reached_failed = 0  # tries of a failed peer that answered (tests, logs)
        self._told_reached: set[str] = set()

    @property
    def host_id(self) -> str:
        return self.store.host_id

    # -- the store's side

    def on_commit(self, changes: ChangeSet) -> None:
        """A store listener (any thread): announce local writes; remote ones were announced."""
        if changes.remote or not changes or self._loop is None:
            return
        self._hint = max(self._hint, changes.hlc)
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            self._loop.call_soon_threadsafe(self._hint_wake.set)

    # -- running

    async def run(self) -> None:
        """Until cancelled: announce, listen, and run anti-entropy rounds."""
        self._loop = asyncio.get_running_loop()
        self.store.listeners.append(self.on_commit)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._announce(), name="cluster-hints")
                tasks.create_task(self._listen(), name="cluster-listen")
                tasks.create_task(self._rounds(), name="cluster-anti-entropy")
                tasks.create_task(self._reach_failed(), name="cluster-reach-failed")
        finally:
            self.store.listeners.remove(self.on_commit)
            for task in self._tasks:
                task.cancel()

    def kick(self) -> None:
        """Run an anti-entropy round now (a peer joined or healed, or events were lost)."""
        self._round_wake.set()

    async def _announce(self) -> None:
        # One hint carries the newest stamp: a burst of commits costs one event.
        sent = 0
        while True:
            await self._hint_wake.wait()
            self._hint_wake.clear()
            if self._hint <= sent:
                continue
            sent = self._hint
            payload = json.dumps({"o": self.host_id, "h": sent}, separators=(",", ":")).encode()
            try:
                await self.gossip.user_event(HINT_EVENT, payload)
            except GossipError as e:
                log.warning("could not send a replication hint (%s); anti-entropy will carry it", e)

    async def _listen(self) -> None:
        while True:
            try:
                stream = await self.gossip.subscribe()
                async with stream:
                    async for event in stream:
                        self._handle(event)
            except GossipError as e:
                log.warning("gossip stream ended (%s); subscribing again", e)
            await asyncio.sleep(1.0)
            self.kick()  # what happened meanwhile was missed

    def _handle(self, event: object) -> None:
        if isinstance(event, UserEvent) and event.name == HINT_EVENT:
            try:
                hint = json.loads(event.payload)
                origin, stamp = str(hint["o"]), int(hint["h"])
            except (ValueError, KeyError, TypeError):
                return
            if origin == self.host_id:
                return
            self.known[origin] = max(self.known.get(origin, 0), stamp)
            self._spawn(self._pull_hinted(origin, stamp))
        elif isinstance(event, MemberEvent):
            if self.on_membership is not None:
                self.on_membership(event)
            if event.kind in ("member-join", "member-update") and any(
                m.name != self.host_id for m in event.members
            ):
                self.kick()
        elif isinstance(event, EventsLost):
            self.kick()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pull_hinted(self, origin: str, stamp: int) -> None:
        marks = await asyncio.to_thread(self.store.high_water)
        if marks.get(origin, 0) >= stamp:
            return
        peers = {p.host_id: p for p in live_peers(await self._members(), self.host_id)}
        peer = peers.get(origin)  # the origin has its own rows for sure
        if peer is None:
            return  # not reachable now: the next round gets them from whoever has them
        try:
            await self.pull(peer.api, origin)
        except PeerUnreachable:
            pass
        except StorageFull as e:  # the next round pulls them again, once there is room
            log.warning("could not merge rows from %s: %s", origin, e.message)

    async def hear_from(self, host_id: str) -> bool:
        """Pull ``host_id``'s own rows from it: True once what this host holds of them is
        its current word (a host back from an absence, see ``Membership.returning``)."""
        peers = {p.host_id: p for p in live_peers(await self._members(), self.host_id)}
        peer = peers.get(host_id)
        if peer is None:
            return False
        try:
            await self.pull(peer.api, host_id)
        except PeerUnreachable as e:
            log.info("could not hear from %s yet: %s", host_id, e)
            return False
        except StorageFull as e:
            log.warning("could not merge rows from %s: %s", host_id, e.message)
            return False
        return True

    async def _members(self) -> list[Member]:
        try:
            return await self.gossip.members()
        except GossipError:
            return []

    async def _rounds(self) -> None:
        while True:
            await self.round()
            # Jitter keeps hosts that started together from swapping in lockstep.
            wait = self.interval * (0.8 + 0.4 * self.rng.random())
            # asyncio.timeout, not wait_for: on 3.11 a kick arriving as the task is cancelled
            # made wait_for return instead of raising, and the loop never stopped.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._round_wake.wait()
            self._round_wake.clear()

    async def round(self) -> bool:
        """One anti-entropy round with a random live peer (trying others if it fails)."""
        try:
            members = await self.gossip.members()
        except GossipError:
            return False  # gossip not answering yet says nothing about the peers
        peers = live_peers(members, self.host_id)
        self.rng.shuffle(peers)
        if not peers:
            if not await asyncio.to_thread(self._others_known):
                self.synced.set()  # a host of its own: nothing to wait for
            # Else a host that has had peers and sees none: its rows may be stale (it was away
            # while the others moved its instances), so it is not synced; the daemon's wait
            # for the first sync has a time limit for a host that stays alone.
            return False
        for peer in peers:
            try:
                await self.sync_with(peer.api)
            except PeerUnreachable as e:
                log.info("anti-entropy with %s failed: %s", peer.host_id, e)
                continue
            except StorageFull as e:
                # The data disk is full: keep the host up and try again next round.
                log.warning("anti-entropy with %s stopped: %s", peer.host_id, e.message)
                return False
            self.last_sync = time.time()
            self.synced.set()
            return True
        return False

    # -- failed peers: anti-entropy does not wait for gossip's re-merge

    async def _reach_failed(self) -> None:
        """Until cancelled: start a try with each failed peer that is due, each on its own."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REACH_TICK):
                    await self._reach_wake.wait()
            self._reach_wake.clear()
            try:
                members = await self.gossip.members()
            except GossipError:
                continue
            now = time.monotonic()
            self.failed_peers.update({
                m.name: m.tags["api"] for m in members
                if m.name != self.host_id and m.status == "failed" and m.tags.get("api")
            }, now)
            for name, api in self.failed_peers.due(now):
                self._spawn(self._try_failed(name, api, now))

    async def _try_failed(self, name: str, api: str, started: float) -> None:
        reached = False
        try:
            if not await self.transport.reachable(api, REACH_CONNECT):
                self._told_reached.discard(name)
                return
            async with self._failed_pulls:
                pulled = await self.sync_with(api)
            reached = True
            self.reached_failed += 1
            if name not in self._told_reached:  # once per absence, not every try
                self._told_reached.add(name)
                log.info("host %s answers on %s while gossip still calls it failed: "
                         "pulled %d rows from it", name, api, pulled)
        except PeerUnreachable as e:
            log.debug("failed host %s does not answer yet: %s", name, e)
        except StorageFull as e:
            reached = True
            log.warning("could not merge rows from %s: %s", name, e.message)
        finally:
            self.failed_peers.done(name, time.monotonic(), reached=reached, started=started)

    def asked_by(self, host_id: str) -> None:
        """A peer's signed request reached our API (any thread of the event loop's): if gossip
        calls it failed, the cut between us is gone, so pull from it now instead of at its
        next try (it is pulling from us: both ways at once)."""
        if self._loop is None:
            return
        if self.failed_peers.asked_by(host_id, time.monotonic()):
            self._reach_wake.set()

    def _others_known(self) -> bool:
        """Rows from another origin are here: this host has been part of a cluster."""
        return any(origin != self.host_id for origin in self.store.high_water())

    async def sync_with(self, api: str) -> int:
        """Pull from ``api`` every origin's rows it has past ours; returns rows pulled."""
        theirs = await self.transport.high_water(api)
        mine = await asyncio.to_thread(lambda: self.store.high_water(fresh=True))
        behind = []
        for origin, stamp in sorted(theirs.items()):
            self.known[origin] = max(self.known.get(origin, 0), stamp)
            if origin != self.host_id and stamp > mine.get(origin, 0):
                behind.append(origin)
        # Every origin at once: after a heal one peer holds the rows of its whole side, and a
        # loaded peer answers each page late (0.2-0.9 s at a load of 12 on two cores), so
        # waiting for each origin in turn added those delays up.
        results = await asyncio.gather(*(self.pull(api, origin) for origin in behind),
                                       return_exceptions=True)
        for result in results:  # every pull ended: the first failure is the round's
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def pull(self, api: str, origin: str) -> int:
        """Page through ``origin``'s rows on ``api`` past our mark, merging as they come."""
        lock = self._locks.setdefault(origin, asyncio.Lock())
        pulled = 0
        async with lock:
            while True:
                since = (await asyncio.to_thread(self.store.high_water)).get(origin, 0)
                rows = await self.transport.rows(api, origin, since, self.page)
                if not rows:
                    break
                through = {origin: int(rows[-1]["row"]["hlc"])}
                changes = await asyncio.to_thread(self.store.apply_remote, rows, through)
                pulled += len(rows)
                if self.after_merge is not None and changes:
                    await asyncio.to_thread(self.after_merge, changes)
                if len(rows) < self.page:
                    break
        self.rows_pulled += pulled
        return pulled

    def lag(self) -> dict[str, float]:
        """Per origin, how far behind this host is, in seconds of that origin's clock."""
        marks = self.store.high_water()
        out: dict[str, float] = {}
        for origin, newest in self.known.items():
            held = marks.get(origin, 0)
            behind = unpack(newest)[0] - unpack(held)[0] if newest > held else 0
            out[origin] = max(behind, 0) / 1000.0
        return out
