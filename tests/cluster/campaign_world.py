"""The world a campaign schedule runs in: 3 to 5 hosts with real SQLite stores, skewed clocks,
replicators wired as ``ClusterNode`` wires them, in-memory gossip, and peer links that refuse
what a partition, a crashed host or a flaky link would refuse.

``World.apply`` turns one schedule step into that fault or write; ``World.repair`` undoes
every fault so the run can wait for the hosts to agree.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from platd.cluster import conflicts
from platd.cluster.replicator import Replicator
from platd.cluster.transport import InMemoryTransport, PeerUnreachable
from platd.gossip.fake import FakeGossip, FakeNetwork
from platd.spec.errors import PlatError
from platd.spec.hlc import HybridLogicalClock, wall_millis
from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.replication import WireRow
from tests.cluster.campaign_checks import Result
from tests.cluster.campaign_schedule import Schedule, Step
from tests.cluster.campaign_writes import WRITE_OPS, forget
from tests.unit.store_support import make_store

STOP_TIMEOUT = 10.0


class SkewedClock:
    """A host's wall clock in milliseconds: the machine's, ``offset`` off (it can jump)."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def __call__(self) -> int:
        return wall_millis() + self.offset_ms


class LinkTransport(InMemoryTransport):
    """The peer transport of one host: it reaches only the peers it could reach on a wire."""

    def __init__(self, world: World, caller: str) -> None:
        super().__init__()
        self.stores = world.by_api  # shared: a restarted host's new store is found at once
        self.world = world
        self.caller = caller

    def _store(self, api: str) -> Store:
        self.world.check_link(self.caller, api)
        return super()._store(api)

    async def rows(self, api: str, origin: str, since: int, limit: int) -> list[WireRow]:
        rows = await super().rows(api, origin, since, limit)
        self.world.rows_moved += len(rows)
        return rows


@dataclass
class HostState:
    name: str
    api: str
    path: Path
    clock: SkewedClock
    store: Store
    gossip: FakeGossip
    replicator: Replicator
    task: asyncio.Task[None] | None = None
    crashed: bool = False
    agent_down: bool = False


class World:
    def __init__(self, root: Path, schedule: Schedule) -> None:
        self.root = root
        self.schedule = schedule
        self.net = FakeNetwork()
        self.by_api: dict[str, Store] = {}
        self.hosts: list[HostState] = []
        self.groups: list[frozenset[str]] | None = None
        self.flaky = 0.0
        self.rng = random.Random(schedule.seed ^ 0x5EED)
        self.rows_moved = 0
        self.errors: list[str] = []
        self.old_stores: list[Store] = []
        for i in range(schedule.hosts):
            name = f"host-{i}"
            api = f"mem://{name}"
            clock = SkewedClock(schedule.skews_ms[i])
            store = make_store(root / name, name, HybridLogicalClock(now_millis=clock))
            gossip = self.net.add(name, tags={"api": api})
            self.by_api[api] = store
            host = HostState(name, api, store.path, clock, store, gossip,
                             self._replicator(i, store, gossip))
            self.hosts.append(host)

    def _replicator(self, index: int, store: Store, gossip: FakeGossip) -> Replicator:
        s = self.schedule

        def after_merge(changes: ChangeSet) -> None:
            conflicts.resolve(store, changes)

        return Replicator(store, gossip, LinkTransport(self, f"host-{index}"),
                          interval=s.interval, page=s.page,
                          rng=random.Random(s.seed * 100 + index), after_merge=after_merge)

    def check_link(self, caller: str, api: str) -> None:
        callee = api.removeprefix("mem://")
        target = next((h for h in self.hosts if h.name == callee), None)
        if target is None or target.crashed:
            raise PeerUnreachable(f"peer {api} is down")
        if self.groups is not None and not any(
            caller in g and callee in g for g in self.groups
        ):
            raise PeerUnreachable(f"peer {api} is on the other side of a partition")
        if self.flaky and self.rng.random() < self.flaky:
            raise PeerUnreachable(f"peer {api} answered 503 (a flaky link)")

    # -- running replicators

    def start(self, host: HostState) -> None:
        async def guarded() -> None:
            try:
                await host.replicator.run()
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # a replicator that dies stops converging: a finding
                self.errors.append(f"{host.name}: replicator died: {e!r}")
                raise

        host.task = asyncio.create_task(guarded(), name=f"replicator {host.name}")

    async def stop(self, host: HostState) -> None:
        if host.task is not None:
            host.task.cancel()
            done, _ = await asyncio.wait({host.task}, timeout=STOP_TIMEOUT)
            if not done:
                self.errors.append(f"{host.name}: the replicator kept running "
                                   f"{STOP_TIMEOUT:g}s after it was cancelled")
                host.task.cancel()  # again: a second cancel is not swallowed
            host.task = None
        # A merge already running in a worker thread finishes (a commit that made it to disk
        # before the crash); wait for it so a restarted store never races a dead one.
        for _ in range(2):
            await asyncio.to_thread(_drain, host.store)
            await asyncio.sleep(0.01)

    # -- steps

    async def apply(self, step: Step, result: Result) -> None:
        host = self.hosts[step.host] if step.host >= 0 else None
        if step.kind == "partition":
            self.groups = [frozenset(f"host-{i}" for i in g) for g in step.args]
            self.net.partition(*self.groups)
        elif step.kind == "heal":
            self.groups = None
            self.net.heal()
        elif step.kind == "crash":
            assert host is not None
            await self.crash(host)
        elif step.kind == "restart":
            assert host is not None
            await self.restart(host)
        elif step.kind == "agent_kill":
            assert host is not None
            self.net.kill(host.name)
            host.agent_down = True
        elif step.kind == "agent_restart":
            assert host is not None
            self.agent_back(host)
        elif step.kind == "clock_jump":
            assert host is not None
            host.clock.offset_ms = step.args[0]
        elif step.kind == "hints":
            self.net.drop_user_events = bool(step.args[0])
        elif step.kind == "flaky":
            self.flaky = float(step.args[0])
        else:
            assert host is not None
            assert not host.crashed
            result.writes += 1
            try:
                await asyncio.to_thread(WRITE_OPS[step.kind], host.store, *step.args)
            except PlatError:
                result.refused += 1  # refused as the API would refuse it: no state change

    async def crash(self, host: HostState) -> None:
        await self.stop(host)
        host.crashed = True
        if not host.agent_down:
            self.net.kill(host.name)
        host.agent_down = False

    async def restart(self, host: HostState) -> None:
        """platd starting again: the store reopened (its clock seeded from disk), a new agent
        back in the cluster, a new replicator."""
        self.old_stores.append(host.store)
        host.store = Store(host.path, host.name, HybridLogicalClock(now_millis=host.clock))
        self.by_api[host.api] = host.store
        host.gossip = self.net.restart(host.name)
        host.replicator = self._replicator(self.hosts.index(host), host.store, host.gossip)
        host.crashed = False
        self.start(host)

    def agent_back(self, host: HostState) -> None:
        """Serf restarted under a running platd: the replicator reconnects (as
        ``ReconnectingGossip`` does) and runs a round, as on a member-join."""
        host.gossip = self.net.restart(host.name)
        host.replicator.gossip = host.gossip
        host.agent_down = False
        host.replicator.kick()

    async def repair(self) -> None:
        self.groups = None
        self.net.heal()
        self.net.drop_user_events = False
        self.flaky = 0.0
        for host in self.hosts:
            if host.crashed:
                await self.restart(host)
            elif host.agent_down:
                self.agent_back(host)

    async def snapshot(self) -> str:
        """One line per host: what a slow convergence is waiting for."""
        digests = await self.digests()
        marks = await asyncio.gather(*(asyncio.to_thread(h.store.high_water)
                                       for h in self.hosts))
        top = {o: max(m.get(o, 0) for m in marks) for m in marks for o in m}
        now = time.time()
        lines = [f"net groups={self.groups} hints dropped={self.net.drop_user_events} "
                 f"flaky={self.flaky}"]
        for host, digest, mark in zip(self.hosts, digests, marks, strict=True):
            r = host.replicator
            task = "none" if host.task is None else (
                f"done ({host.task.exception()!r})" if host.task.done()
                and not host.task.cancelled() else "running")
            behind = sorted(o for o, stamp in top.items() if mark.get(o, 0) < stamp)
            last = f"{now - r.last_sync:.1f}s ago" if r.last_sync else "never"
            view: Counter[str]
            try:
                view = Counter(str(m.status) for m in await host.gossip.members())
            except PlatError as e:
                view = Counter({type(e).__name__: 1})
            lines.append(
                f"{host.name} digest {digest[:8]} crashed={host.crashed} "
                f"agent_down={host.agent_down} task {task} synced={r.synced.is_set()} "
                f"last round {last} pulled {r.rows_pulled} pending {len(r._tasks)} "
                f"locked {[o for o, lock in r._locks.items() if lock.locked()]} "
                f"behind on {behind} sees {dict(view)}")
        return "\n      ".join(lines)

    async def digests(self) -> list[str]:
        return list(await asyncio.gather(
            *(asyncio.to_thread(h.store.digest) for h in self.hosts)))

    def close(self) -> None:
        for store in [h.store for h in self.hosts] + self.old_stores:
            store.close()
            forget(store)


def _drain(store: Store) -> None:
    with store._write_lock:  # held by a write in progress, if any
        pass
