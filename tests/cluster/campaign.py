"""A seeded randomized campaign against replication: many schedules of writes and faults, one
question each: once every fault is repaired, do all hosts hold the same state?

    .venv/bin/python -m tests.cluster.campaign --schedules 200 --seed 1 [--steps 40]

One process, 3 to 5 hosts, each with a real SQLite state store, a ``Replicator`` with a short
anti-entropy interval and ``conflicts.resolve`` after every merge, exactly as ``ClusterNode``
wires them. Gossip is the in-memory ``FakeNetwork``; peers read each other through a per-host
in-memory transport that refuses what a partition, a crashed host or a flaky link would refuse.
Every store stamps with its own skewed wall clock (up to several seconds off, and jumping
forward and back), because "the larger (hlc, origin) wins" must hold when clocks disagree.

A schedule is a pure function of its seed (``make_schedule``), so a failing seed names a
reproducible sequence of steps; the interleaving with replication is real concurrency and is
not. Writes go through the same service functions the API calls (``tenancy``, ``releases``,
``status.scale``, ``events``), and are refused the same way (a name already taken on that
host, a child still alive). Faults: partitions, heals, a host crashing (its replicator task
cancelled, its store reopened on restart with a fresh clock), a Serf agent dying alone, hints
dropped, peer requests failing at random.

At the end everything is repaired and the campaign waits (bounded) until every host's
``store.digest()`` is equal and stays equal, then checks what users rely on: no two live
siblings share a name, each env's current release is the same everywhere and points at one of
its releases, and each workload's scale override is the same everywhere. It also reports
conflict events whose explanation names a release other than the one that is current.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select

from platd.auth.tokens import Principal
from platd.cluster import conflicts
from platd.cluster.replicator import Replicator
from platd.cluster.transport import InMemoryTransport, PeerUnreachable
from platd.gossip.fake import FakeGossip, FakeNetwork
from platd.services import releases, status, tenancy
from platd.spec.errors import PlatError
from platd.spec.hlc import HybridLogicalClock, wall_millis
from platd.store import eventlog, queries
from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.models import Env, EnvChange, Event, Org, Release, Scale
from platd.store.replication import WireRow
from tests.daemon_support import service_context
from tests.unit.store_support import make_store

ADMIN = Principal(token_id="campaign", name="campaign", org_id=None, org_name=None, role="owner")
APP = "base/p/web"
ORG_NAMES = ("acme", "globex", "initech", "hooli")  # few names: both sides pick the same ones
ENV_NAMES = ("prod", "staging", "dev")
BASE_ENVS = ("prod", "staging")
MANIFEST = ('app = "web"\n[workloads.web]\nimage = "127.0.0.1:5000/hello:v1"\ncount = 1\n'
            'min_ready = "1s"\n')
MAX_SKEW_MS = 5_000
CONVERGE_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SCHEDULE_TIMEOUT = 180.0
SLOW_AFTER = (3.0, 10.0)  # seconds after the repair: how each host looks, if not converged

WRITES = ("org_create", "org_rename", "org_delete", "env_create", "env_delete", "deploy",
          "rollback", "scale", "event")


# What a problem is about. All but "explanation" mean hosts disagree on what to run.
CATEGORIES = {
    "diverged": "state digests still differ",
    "names": "live siblings share a name",
    "current": "an env's current release differs or dangles",
    "scale": "hosts apply different scale overrides to one workload",
    "crash": "a replicator died or a task failed",
    "explanation": "a deploy-conflict event names a winner that is not current",
}
DIVERGENCE = frozenset(CATEGORIES) - {"explanation"}
Problem = tuple[str, str]  # (category, what)


# -- schedules (pure)

@dataclass(frozen=True)
class Step:
    kind: str
    host: int = -1
    args: tuple[Any, ...] = ()
    pause_ms: int = 0  # after the step: lets replication interleave with the next one

    def __str__(self) -> str:
        where = f" h{self.host}" if self.host >= 0 else ""
        return f"{self.kind}{where} {' '.join(map(str, self.args))}".rstrip()


@dataclass(frozen=True)
class Schedule:
    seed: int
    hosts: int
    skews_ms: tuple[int, ...]
    page: int
    interval: float
    steps: tuple[Step, ...]


def make_schedule(seed: int, steps: int) -> Schedule:
    """The steps of one run, from the seed alone. Writes land only on hosts that are up."""
    rng = random.Random(seed)
    n = rng.randint(3, 5)
    skews = tuple(rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS) for _ in range(n))
    crashed: set[int] = set()
    agent_down: set[int] = set()
    out: list[Step] = []
    for _ in range(steps):
        roll = rng.random()
        up = [h for h in range(n) if h not in crashed]
        pause = rng.choice((0, 0, 5, 10, 20, 40))
        if roll < 0.10:
            hosts = list(range(n))
            rng.shuffle(hosts)
            cut = rng.randint(1, n - 1)
            groups = (tuple(sorted(hosts[:cut])), tuple(sorted(hosts[cut:])))
            out.append(Step("partition", args=groups, pause_ms=pause))
        elif roll < 0.16:
            out.append(Step("heal", pause_ms=pause))
        elif roll < 0.20 and len(up) > 1:
            victim = rng.choice(up)
            crashed.add(victim)
            agent_down.discard(victim)
            out.append(Step("crash", victim, pause_ms=pause))
        elif roll < 0.24 and crashed:
            back = rng.choice(sorted(crashed))
            crashed.discard(back)
            out.append(Step("restart", back, pause_ms=pause))
        elif roll < 0.27 and [h for h in up if h not in agent_down]:
            victim = rng.choice([h for h in up if h not in agent_down])
            agent_down.add(victim)
            out.append(Step("agent_kill", victim, pause_ms=pause))
        elif roll < 0.30 and agent_down:
            back = rng.choice(sorted(agent_down))
            agent_down.discard(back)
            out.append(Step("agent_restart", back, pause_ms=pause))
        elif roll < 0.33:
            out.append(Step("clock_jump", rng.randrange(n),
                            (rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS),), pause_ms=pause))
        elif roll < 0.35:
            out.append(Step("hints", args=(rng.random() < 0.5,), pause_ms=pause))
        elif roll < 0.37:
            out.append(Step("flaky", args=(rng.choice((0.0, 0.0, 0.1, 0.3)),), pause_ms=pause))
        else:
            out.append(_write(rng, rng.choice(up), pause))
    return Schedule(seed, n, skews, rng.choice((3, 7, 50, 1000)), rng.choice((0.1, 0.2)),
                    tuple(out))


def _write(rng: random.Random, host: int, pause: int) -> Step:
    kind = rng.choices(WRITES, weights=(4, 2, 2, 3, 1, 5, 2, 3, 2))[0]
    if kind in ("org_create", "org_delete"):
        args: tuple[Any, ...] = (rng.choice(ORG_NAMES),)
    elif kind == "org_rename":
        args = tuple(rng.sample(ORG_NAMES, 2))
    elif kind in ("env_create", "env_delete"):
        args = (rng.choice(ENV_NAMES),)
    elif kind == "deploy":
        args = (rng.choice(ENV_NAMES), rng.getrandbits(64))
    elif kind == "rollback":
        args = (rng.choice(ENV_NAMES), rng.randint(1, 4))
    elif kind == "scale":
        args = (rng.choice(ENV_NAMES), rng.randint(0, 5))
    else:
        args = (rng.choice(ENV_NAMES), rng.getrandbits(32))
    return Step(kind, host, args, pause)


# -- the world a schedule runs in

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


@dataclass
class Result:
    seed: int
    hosts: int
    steps: int
    converged: bool = False
    seconds: float | None = None  # heal to equal, stable state
    problems: list[Problem] = field(default_factory=list)
    conflicts: int = 0  # conflict events in the end state
    writes: int = 0
    refused: int = 0
    rows_moved: int = 0
    slow: list[str] = field(default_factory=list)  # each host's state while convergence lagged

    def divergent(self, tolerate: frozenset[str] = frozenset()) -> bool:
        """Hosts disagree on what to run (problems of a ``tolerate``d category aside)."""
        return any(c in DIVERGENCE - tolerate for c, _ in self.problems)


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
            _contexts.pop(id(store), None)  # the cache would keep every schedule's stores alive


def _drain(store: Store) -> None:
    with store._write_lock:  # held by a write in progress, if any
        pass


# -- writes, through the services the API calls

_contexts: dict[int, Any] = {}


def _svc(store: Store) -> Any:
    """One service context per store (the use cases take one, as the API passes them)."""
    if id(store) not in _contexts:
        _contexts[id(store)] = service_context(store, clock=_StoreClock(store))
    return _contexts[id(store)]


class _StoreClock:
    """The store's skewed wall clock as the services' clock, so events carry the same skew."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def time(self) -> float:
        return self._store.clock._now() / 1000.0

def _org_create(store: Store, name: str) -> None:
    tenancy.create(_svc(store), ADMIN, "org", name)


def _org_delete(store: Store, name: str) -> None:
    tenancy.delete(_svc(store), ADMIN, "org", name)


def _org_rename(store: Store, old: str, new: str) -> None:
    with store.write() as session:
        live = {o.name: o for o in session.exec(select(Org).where(Org.deleted == False))}  # noqa: E712
        if old not in live:
            raise PlatError(f"no org {old}")
        if new in live:
            raise PlatError(f"org {new} already exists")
        org = live[old]
        org.name = new
        session.add(org)


def _env_create(store: Store, name: str) -> None:
    tenancy.create(_svc(store), ADMIN, "env", f"{APP}/{name}")


def _env_delete(store: Store, name: str) -> None:
    tenancy.delete(_svc(store), ADMIN, "env", f"{APP}/{name}")


def _deploy(store: Store, env: str, digest_seed: int) -> None:
    plan = releases.prepare_deploy(_svc(store), ADMIN, f"{APP}/{env}", MANIFEST, {})
    image = f"127.0.0.1:5000/hello@sha256:{digest_seed:064x}"
    releases.commit_deploy(_svc(store), ADMIN, plan, dict.fromkeys(plan.refs, image), image,
                           force=True)  # every deploy writes a release, changed or not


def _rollback(store: Store, env: str, back: int) -> None:
    with store.read() as session:
        ref = tenancy.resolve_env(session, ADMIN, f"{APP}/{env}")
        rows = session.exec(select(Release).where(Release.env_id == ref.env.id)).all()
        older = sorted((r for r in rows if r.id != ref.env.current_release_id),
                       key=lambda r: (r.seq, r.id))
    if not older:
        raise PlatError("nothing to roll back to")
    chosen = older[-min(back, len(older))]
    releases.rollback(_svc(store), ADMIN, f"{APP}/{env}", chosen.id)


def _scale(store: Store, env: str, count: int) -> None:
    status.scale(_svc(store), ADMIN, f"{APP}/{env}", "web", count=count, minimum=None, maximum=None,
                 cpu=None, memory=None)


def _event(store: Store, env: str, n: int) -> None:
    with store.write() as session:
        ref = tenancy.resolve_env(session, ADMIN, f"{APP}/{env}")
        eventlog.record(session, _svc(store).clock, env_id=ref.env.id, step="note", outcome="info",
                      message=f"campaign note {n}", actor="campaign")


WRITE_OPS: dict[str, Callable[..., None]] = {
    "org_create": _org_create, "org_rename": _org_rename, "org_delete": _org_delete,
    "env_create": _env_create, "env_delete": _env_delete, "deploy": _deploy,
    "rollback": _rollback, "scale": _scale, "event": _event,
}


def _seed_tree(store: Store) -> None:
    for kind, path in (("org", "base"), ("project", "base/p"), ("app", APP)):
        tenancy.create(_svc(store), ADMIN, kind, path)
    for env in BASE_ENVS:
        tenancy.create(_svc(store), ADMIN, "env", f"{APP}/{env}")
        _deploy(store, env, 1)


# -- checks on the end state

def check_end_state(stores: list[Store]) -> tuple[list[Problem], int]:
    """Problems of converged stores, and how many conflict events they hold."""
    problems: list[Problem] = []
    views = [_view(s) for s in stores]
    first = views[0]
    for table, rows in first["names"].items():
        clashes = [k for k, n in Counter(rows).items() if n > 1]
        if clashes:
            problems.append(("names", f"live {table} share a name: {sorted(map(str, clashes))}"))
    for i, view in enumerate(views[1:], 1):
        if view["current"] != first["current"]:
            problems.append(("current", f"host-{i} has other current releases than host-0"))
        if view["scales"] != first["scales"]:
            problems.append(("scale", f"host-{i} applies other scale overrides than host-0: "
                                      f"{view['scales']} vs {first['scales']}"))
    for env_id, (release, change_release, valid) in first["current"].items():
        if release is not None and not valid:
            problems.append(("current", f"env {env_id[-8:]} points at a release it lacks"))
        if change_release != release:
            problems.append(("current", f"env {env_id[-8:]}: current change and current "
                                        "release disagree"))
    for key, count in first["scale_rows"].items():
        if count > 1:
            problems.append(("scale", f"{count} live scale rows for one workload {key}"))
    problems += [("explanation", text) for text in first["misleading"]]
    return problems, first["conflicts"]


_CURRENT_RE = re.compile(r"\(release (\w{12}), by [^)]*\) is current")


def _view(store: Store) -> dict[str, Any]:
    with store.read() as session:
        names: dict[str, list[tuple[Any, str]]] = {}
        for table, (model, scope, _noun) in conflicts.NAMED.items():
            rows = session.exec(select(model).where(model.deleted == False)).all()  # type: ignore[attr-defined]  # noqa: E712
            names[table] = [(getattr(r, scope) if scope else None, getattr(r, "name"))  # noqa: B009
                            for r in rows]
        envs = session.exec(select(Env)).all()
        release_env = {r.id: r.env_id for r in session.exec(select(Release))}
        changes = list(session.exec(select(EnvChange)))
        by_id = {c.id: c for c in changes}
        current = {}
        for env in envs:
            change = by_id.get(env.current_change_id or "")
            current[env.id] = (env.current_release_id,
                               change.release_id if change else None,
                               release_env.get(env.current_release_id or "") == env.id)
        live_envs = [e for e in envs if not e.deleted]
        # What the scale service and the reconciler apply: one override per workload.
        scales = {e.id: {w: s.count for w, s in queries.live_scales(session, e.id).items()}
                  for e in live_envs}
        scale_rows = Counter((s.env_id[-8:], s.workload) for s in session.exec(
            select(Scale).where(Scale.deleted == False)))  # noqa: E712
        conflict_events = {e.id: e for e in session.exec(
            select(Event).where(Event.step == "conflict"))}
        misleading = _misleading(envs, changes, conflict_events)
    return {"names": names, "current": current, "scales": scales, "scale_rows": scale_rows,
            "misleading": misleading, "conflicts": len(conflict_events)}


def _misleading(envs: Any, changes: list[EnvChange], found: dict[str, Event]) -> list[str]:
    """Concurrent moves of an env (changes away from the same release) whose conflict event is
    missing, or names another release as current while one of them is still current."""
    groups: dict[tuple[str, str | None], list[EnvChange]] = defaultdict(list)
    for change in changes:
        groups[(change.env_id, change.previous_release_id)].append(change)
    env_by_id = {e.id: e for e in envs}
    out = []
    for (env_id, _previous), siblings in groups.items():
        if len(siblings) < 2 or len({c.release_id for c in siblings}) < 2:
            continue
        env = env_by_id.get(env_id)
        event = found.get(conflicts.conflict_id(*[c.id for c in siblings]))
        if event is None:
            out.append(f"env {env_id[-8:]}: {len(siblings)} concurrent changes, no event")
            continue
        match = _CURRENT_RE.search(event.message)
        if env is None or match is None:
            continue
        current = env.current_release_id or ""
        if env.current_change_id in {c.id for c in siblings} and match[1] != current[-12:]:
            out.append(f"env {env_id[-8:]}: the event says release {match[1]} is current, "
                       f"but {current[-12:]} is")
    return out


# -- one run

async def _run(schedule: Schedule, root: Path, result: Result) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=16))
    world = World(root, schedule)

    def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        world.errors.append(f"unhandled: {context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(on_error)
    try:
        await asyncio.to_thread(_seed_tree, world.hosts[0].store)
        for host in world.hosts[1:]:
            await host.gossip.join([world.hosts[0].name])
        for host in world.hosts:
            world.start(host)
        await _until_equal(world, timeout=CONVERGE_TIMEOUT, settle=0.0)
        for step in schedule.steps:
            await world.apply(step, result)
            if step.pause_ms:
                await asyncio.sleep(step.pause_ms / 1000)
        await world.repair()
        seconds = await _until_equal(world, timeout=CONVERGE_TIMEOUT,
                                     settle=max(0.3, 3 * schedule.interval), slow=result.slow)
        result.rows_moved = world.rows_moved
        if seconds is None:
            digests = await world.digests()
            result.problems.append(("diverged",
                f"digests still differ after {CONVERGE_TIMEOUT:g}s: "
                + ", ".join(f"host-{i}={d[:8]}" for i, d in enumerate(digests))))
        else:
            result.converged, result.seconds = True, seconds
        stores = [h.store for h in world.hosts]
        problems, result.conflicts = await asyncio.to_thread(check_end_state, stores)
        result.problems += problems
    finally:
        for host in world.hosts:
            await world.stop(host)
        result.problems += [("crash", e) for e in world.errors]
        world.close()


async def _bounded(schedule: Schedule, root: Path, result: Result) -> None:
    try:
        async with asyncio.timeout(SCHEDULE_TIMEOUT):
            await _run(schedule, root, result)
    except TimeoutError:
        result.problems.append(("crash", f"the schedule did not finish in {SCHEDULE_TIMEOUT:g}s"))


async def _until_equal(world: World, *, timeout: float, settle: float,
                       slow: list[str] | None = None) -> float | None:
    """Seconds until every digest is equal and stays equal for ``settle`` seconds (the time
    returned is when they first became equal for good); None when ``timeout`` passes. While
    it takes longer than ``SLOW_AFTER``, what each host is doing goes to ``slow``."""
    start = time.monotonic()
    equal_since: float | None = None
    looks = list(SLOW_AFTER)
    while time.monotonic() - start < timeout:
        if len(set(await world.digests())) == 1:
            now = time.monotonic()
            equal_since = equal_since or now
            if now - equal_since >= settle:
                return equal_since - start
        else:
            equal_since = None
            if slow is not None and looks and time.monotonic() - start > looks[0]:
                slow.append(f"after {looks.pop(0):g}s: " + await world.snapshot())
        await asyncio.sleep(0.05)
    return None


def run_campaign(seed: int, steps: int = 40, root: Path | None = None) -> Result:
    """Run the schedule of ``seed`` to its end and check the converged state."""
    schedule = make_schedule(seed, steps)
    result = Result(seed, schedule.hosts, steps)
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-")))
        asyncio.run(_bounded(schedule, root / f"seed-{seed}", result))
    return result


# -- the command

def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="the first seed (then +1 each)")
    parser.add_argument("--steps", type=int, default=40, help="steps per schedule")
    parser.add_argument("--show", action="store_true", help="print each schedule's steps")
    parser.add_argument("--tolerate", action="append", default=[], metavar="CATEGORY",
                        choices=sorted(DIVERGENCE),
                        help="do not count this category of problem as divergence (repeatable)")
    args = parser.parse_args(argv)
    if args.schedules < 1 or args.steps < 1:
        parser.error("--schedules and --steps must be at least 1")
    tolerate = frozenset(args.tolerate)
    logging.basicConfig(level=logging.CRITICAL)  # expected warnings: hints lost, peers down
    results: list[Result] = []
    began = time.monotonic()
    for seed in range(args.seed, args.seed + args.schedules):
        if args.show:
            for step in make_schedule(seed, args.steps).steps:
                print(f"  seed {seed}: {step}")
        r = run_campaign(seed, args.steps)
        results.append(r)
        mark = "DIVERGENT" if r.divergent(tolerate) else "ok"
        took = f"{r.seconds:.2f}s" if r.seconds is not None else "-"
        print(f"seed {seed:>5}  hosts {r.hosts}  writes {r.writes:>3} (refused {r.refused:>2})"
              f"  conflicts {r.conflicts:>2}  converged in {took:>6}  {mark}", flush=True)
        for category, what in r.problems:
            print(f"    {category}: {what}")
        for look in r.slow:
            print(f"    slow, {look}")
    _table(results, args, tolerate, time.monotonic() - began)
    return 1 if any(r.divergent(tolerate) for r in results) else 0


def _table(results: list[Result], args: argparse.Namespace, tolerate: frozenset[str],
           wall: float) -> None:
    times = [r.seconds for r in results if r.seconds is not None]
    by_hosts = Counter(r.hosts for r in results)
    rows = [
        ("schedules (seeds)", f"{len(results)} ({args.seed}..{args.seed + len(results) - 1})"),
        ("hosts per schedule", ", ".join(f"{n}: {c}" for n, c in sorted(by_hosts.items()))),
        ("steps per schedule", str(args.steps)),
        ("writes (refused as the API would)",
         f"{sum(r.writes for r in results)} ({sum(r.refused for r in results)})"),
        ("divergent end states" + (f" (tolerating {', '.join(sorted(tolerate))})"
                                   if tolerate else ""),
         str(sum(r.divergent(tolerate) for r in results))),
    ]
    for category, words in CATEGORIES.items():
        hit = sum(any(c == category for c, _ in r.problems) for r in results)
        rows.append((f"  schedules where {words}", str(hit)))
    rows += [
        ("conflicts resolved (conflict events)", str(sum(r.conflicts for r in results))),
        ("heal -> equal state, median", f"{statistics.median(times):.2f} s" if times else "-"),
        ("heal -> equal state, p99", f"{_pct(times, 0.99):.2f} s" if times else "-"),
        ("heal -> equal state, max", f"{max(times):.2f} s" if times else "-"),
        ("rows pulled per schedule, median",
         f"{statistics.median(r.rows_moved for r in results):.0f}"),
        ("wall time", f"{wall:.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\nreplication campaign: {len(results)} schedules\n")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    failing = [r.seed for r in results if r.divergent(tolerate)]
    if failing:
        print(f"\ndivergent seeds: {failing} (rerun one: --seed N --schedules 1 --show)")


if __name__ == "__main__":
    sys.exit(main())
