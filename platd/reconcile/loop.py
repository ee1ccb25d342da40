"""The control loop of one host: observe, plan, execute, record; again on every change.

Three guarded tasks run together and the daemon stops if any of them dies, rather than limping
on without a reconciler: the pass loop, a watcher of the runtime's event stream, and the health
prober. A pass is triggered by a desired-state commit, a container event, a health change, a
backoff timer or the periodic resync, whichever comes first.

On a host of its own (``prepare_envs``), an env that was never deployed to is prepared in the
background as soon as a pass sees it (``Runtime.prepare_env``: the env's network), since its
instances can only run here: its first deploy then does not wait for the engine to make the
network (measured: ~120 ms of a 650 ms deploy). A deleted env's preparation is undone. In a
cluster, the host placed to run an env's first instance makes the network when it creates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from platd.clock import Clock, SystemClock
from platd.reconcile import observed as observed_service
from platd.reconcile import planner
from platd.reconcile.desired import live_env_ids, load_desired, open_secret_version
from platd.reconcile.executor import Executor
from platd.reconcile.health import Prober, probe
from platd.reconcile.ledger import HealthState, Ledger
from platd.reconcile.model import (
    Action,
    Capacity,
    Create,
    DesiredWorkload,
    Health,
    InstanceView,
    Pending,
    Plan,
    Pull,
)
from platd.reconcile.secret_files import SecretFiles
from platd.runtime.base import ObservedContainer, Runtime, RuntimeError_, RuntimeEvent
from platd.secrets.crypto import SecretBox
from platd.spec.errors import StorageFull
from platd.store.changes import ChangeSet
from platd.store.db import Store

# Tables a pass does not plan from: what passes themselves record (events, instance rows; a
# peer's observations), and who may do what (identity). A commit touching only these wakes none.
OBSERVATION_TABLES = frozenset({"events", "instances",
                                "tokens", "users", "memberships", "invites", "join_tokens"})
TENANCY_TABLES = frozenset({"orgs", "projects", "apps", "envs"})  # what makes an env live
log = logging.getLogger("platd.reconcile")

STABLE_AFTER = 300.0  # seconds of healthy running after which the restart count resets
STARTING_PROBE_EVERY = 0.1
FULL_RETRY = 2.0  # seconds between passes while the data disk is full
ENGINE_TIMEOUT = 20.0  # seconds a listing may take before the engine counts as not answering


class EngineUnreachable(RuntimeError_):
    """The engine did not answer the pass's first call: nothing it reports can be trusted."""


# A starting instance is probed at once, then every 10 ms for its first 30 probes (~0.3 s), then
# every 100 ms: most apps answer within a few tenths of a second, a rollout waits for that
# answer, and each interval between probes costs it half of one on average (at 25 ms: 12 ms of
# a 600 ms one-instance rollout). A refused connection is cheap.
STARTING_PROBE_SOON, STARTING_PROBES_SOON = 0.01, 30


@dataclass(frozen=True)
class Hooks:
    """What other parts of the daemon do at points of the loop (all optional)."""

    # Told every observed container list (the log collector follows each container).
    on_observed: Callable[[list[ObservedContainer]], None] | None = None
    # Awaited before an instance is told to stop (ingress stops sending it new connections).
    before_stop: Callable[[str], Awaitable[None]] | None = None
    # Awaited between stop and remove (the log collector reads the container's last lines).
    before_remove: Callable[[str], Awaitable[None]] | None = None


class Reconciler:
    def __init__(
        self, store: Store, runtime: Runtime, box: SecretBox, secrets_root: Path,
        *, resync: float = 5.0, clock: Clock | None = None, prober: Prober = probe,
        hooks: Hooks | None = None, fenced: Callable[[], bool] | None = None,
        prepare_envs: bool = False,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.resync = resync
        self.clock = clock or SystemClock()
        hooks = hooks or Hooks()
        self.ledger = Ledger()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observed: list[ObservedContainer] = []
        self._desired: dict[str, DesiredWorkload] = {}  # by spec hash
        self._capacity: Capacity | None = None
        self.passes = 0
        self.engine_down_since: float | None = None
        self._probe = prober
        self._on_observed = hooks.on_observed
        # A cluster member cut off from most of the others runs nothing (``Membership.fenced``).
        self._fenced = fenced
        self._was_fenced = False
        # Containers just started, as inspected right after their start (monotonic time of
        # the inspection, the container): probed before a pass has listed them.
        self._fresh: dict[str, tuple[float, ObservedContainer]] = {}
        # The write of each such container's "running" event while it is under way.
        self._recorded: dict[str, asyncio.Future[None]] = {}
        self._probe_now = asyncio.Event()
        self._probing = False
        # Probes under way, one per container at most, and the first error one of them raised.
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._probe_error: BaseException | None = None
        self._inspections: set[asyncio.Task[None]] = set()  # and env preparations
        # Envs prepared before their first deploy (see the module docstring); None: not done
        # on this host. ``_tenancy_changed``: whether a commit may have changed which are live.
        self._prepared: set[str] | None = set() if prepare_envs else None
        self._tenancy_changed = True

        def open_version(version_id: str) -> dict[str, str]:
            return open_secret_version(store, box, version_id)

        self.executor = Executor(
            store, runtime, self.ledger, SecretFiles(secrets_root, open_version), self.poke,
            self.clock, before_stop=hooks.before_stop, before_remove=hooks.before_remove,
            on_started=self._started,
        )

    def poke(self, changes: object = None) -> None:
        """Ask for a pass soon; safe to call from any thread (and a store listener).

        A commit that wrote only events and instance rows (what passes themselves record, or
        peers' observations) changes nothing a pass plans from: it does not wake one. Each
        such wake-up cost a whole pass during a rollout, competing with the rollout itself.
        """
        if isinstance(changes, ChangeSet) and changes:
            if any(ids and table in TENANCY_TABLES for table, ids in changes.tables.items()):
                self._tenancy_changed = True
            if all(table in OBSERVATION_TABLES for table, ids in changes.tables.items() if ids):
                return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.listeners.append(self.poke)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pass_loop(), name="reconcile-passes")
                group.create_task(self._watch_runtime(), name="reconcile-runtime-events")
                group.create_task(self._probe_loop(), name="reconcile-health")
        finally:
            self.store.listeners.remove(self.poke)
            for task in self._inspections:
                task.cancel()
            await self.executor.drain()
            # No plaintext left on the tmpfs once platd is gone: running containers keep what
            # is mounted, and a start writes the files again first.
            await asyncio.to_thread(self.executor.secret_files.clear)

    async def _pass_loop(self) -> None:
        restarts = await asyncio.to_thread(observed_service.load_restarts, self.store)
        self.ledger.restarts.update(restarts)
        first = True
        while True:
            self._wake.clear()
            try:
                wake_in = await self.pass_once(recovering=first)
                first = False
            except EngineUnreachable as e:
                await self._engine_lost(str(e))
                wake_in = 1.0
            except RuntimeError_ as e:
                log.warning("reconcile pass failed, will retry: %s", e)
                wake_in = 1.0
            except StorageFull as e:
                # Not a reason to stop the host: what runs keeps running, and the next pass
                # writes what this one could not (platd/disk.py frees its ballast first).
                log.warning("reconcile pass could not record what it saw, will retry: %s",
                            e.message)
                wake_in = FULL_RETRY
            timeout = min(self.resync, wake_in if wake_in is not None else math.inf)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races a wake-up, and shutdown would then hang.
                async with asyncio.timeout(max(timeout, 0.01)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _engine_lost(self, message: str) -> None:
        """Say so once per outage, in every instance row of this host and in its envs' events:
        ``plat status`` must not go on showing the last rows as running and healthy."""
        if self.engine_down_since is not None:
            return
        self.engine_down_since = now = self.clock.time()
        self._observed = []  # nothing to probe: addresses and states may be stale
        log.warning("the container engine does not answer: %s", message)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
        await asyncio.to_thread(
            observed_service.mark_engine_unreachable, self.store, self.clock,
            f"engine unreachable since {since}: {message}",
        )

    async def _list(self) -> list[ObservedContainer]:
        try:
            async with asyncio.timeout(ENGINE_TIMEOUT):
                observed = await self.runtime.list_instances(self.store.host_id)
        except TimeoutError:
            raise EngineUnreachable(
                f"the engine did not list its containers within {ENGINE_TIMEOUT:g}s") from None
        except RuntimeError_ as e:
            raise EngineUnreachable(str(e), e.category) from e
        if self.engine_down_since is not None:
            down_for = self.clock.time() - self.engine_down_since
            self.engine_down_since = None
            log.warning("the container engine answers again after %.0fs", down_for)
        return observed

    async def pass_once(self, recovering: bool = False) -> float | None:
        listed_at = time.monotonic()
        # Read before the desired state: a sync that lifts the fence during this pass brought
        # assignments the desired state read below may predate (see ``_fence``).
        began_fenced = self._fenced is not None and self._fenced()
        # The engine's list and the database's desired state are read at once: neither needs
        # the other, and one after the other they cost every pass (the one a deploy's commit
        # wakes, the one that marks it converged) the shorter of the two (3-10 ms).
        observed, (desired, status) = await asyncio.gather(
            self._list(), asyncio.to_thread(load_desired, self.store))
        if self._on_observed is not None:
            self._on_observed(observed)
        # Beside the plan and its actions, not before them: a deploy moves the env's current
        # release (a tenancy table), and the query of live envs that costs (a thread hop)
        # delayed the deploy's create. Awaited before the pass ends: one at a time.
        preparing = asyncio.create_task(self._prepare_envs(), name="prepare-envs")
        try:
            return await self._plan_and_act(observed, desired, status, listed_at, recovering,
                                            began_fenced)
        finally:
            await preparing

    async def _plan_and_act(
        self, observed: list[ObservedContainer], desired: list[DesiredWorkload],
        status: dict[str, str], listed_at: float, recovering: bool, began_fenced: bool,
    ) -> float | None:
        desired = await self._fence(desired, observed, began_fenced)
        desired = planner.keep_surplus_only_if_running(
            desired, Counter(o.spec_hash for o in observed if o.state == "running"))
        self._observed = observed
        # What this pass listed is newer than an inspection made before the listing began.
        for cid, (inspected_at, _o) in list(self._fresh.items()):
            if inspected_at <= listed_at:
                del self._fresh[cid]
        self._desired = {d.spec_hash: d for d in desired}
        now = self.clock.time()
        if recovering:
            # Instances that went while platd was away leave no secret files behind.
            await asyncio.to_thread(self.executor.secret_files.remove_all_but,
                                    {o.instance_id for o in observed})
            await self._record_recovery(observed)
        else:
            await self._record_crashes(observed)
        for o in observed:
            self.ledger.last_state[o.container_id] = o.state
        seen = {o.container_id for o in observed}
        self.ledger.removed &= seen  # forget removals once the engine stops listing them
        hidden = self.ledger.stopping | self.ledger.removed
        views = [self._view(o, now) for o in observed if o.container_id not in hidden]
        # Instances still stopping hold their volumes: a stop-first rollout waits for them.
        stopping = [self._view(o, now) for o in observed if o.container_id in self.ledger.stopping]
        plan = planner.plan(
            desired, views, images_present=await self._images_present(desired),
            release_status=status, capacity=await self._host_capacity(), now=now,
            stopping=stopping,
        )
        plan, held_for = self._hold_back(plan, now)
        pending = {(a.desired.env_id, a.desired.workload): a for a in plan.actions
                   if isinstance(a, Pending)}
        async def rows_of_this_pass(verdicts: Sequence[observed_service.Verdict]) -> None:
            # Before stops: they drain ingress first, which reads instance rows, and those must
            # already show the instances that became healthy this pass, or the new set would
            # look empty. With a converged verdict: `plat status` right after it must not
            # show the instances as they were before they turned healthy.
            await asyncio.to_thread(
                observed_service.write_instances, self.store, self.clock,
                self._rows(views, pending), verdicts,
            )

        await self.executor.execute(plan, write_rows=rows_of_this_pass)
        self.passes += 1
        await asyncio.to_thread(
            observed_service.write_instances, self.store, self.clock, self._rows(views, pending)
        )
        self._probe_now.set()  # containers this pass saw start for the first time
        ready_in = self._next_ready(now)
        waits = [w for w in (plan.wake_in, ready_in, held_for) if w is not None]
        return min(waits) if waits else None

    async def _fence(
        self, desired: list[DesiredWorkload], observed: list[ObservedContainer],
        began_fenced: bool,
    ) -> list[DesiredWorkload]:
        """Nothing runs on a host cut off from the cluster past half the grace period: the
        others place its instances again, and an instance must never run twice.

        A pass that began fenced stays fenced to its end. The fence lifts once a sync has
        brought what the others placed meanwhile (``Membership.synced``), and this pass's
        desired state may have been read before that sync merged: it would start the host's
        old slots beside their replacements (6 instances for 4 after a healed partition). The
        lifted fence wakes the next pass, which reads the new assignments."""
        fenced = began_fenced or (self._fenced is not None and self._fenced())
        if fenced != self._was_fenced:
            self._was_fenced = fenced
            words = ("this host is cut off from most of the cluster: its instances stop, since "
                     "the other hosts will run them" if fenced else
                     "this host sees the cluster again: it runs what is placed on it")
            for env_id in sorted({o.env_id for o in observed} | {d.env_id for d in desired}):
                await asyncio.to_thread(
                    observed_service.record_event, self.store, self.clock, env_id=env_id,
                    step="fence", outcome="failed" if fenced else "info",
                    category="scheduling" if fenced else None, message=words,
                )
        if not fenced:
            return desired
        return [dataclasses.replace(d, count=0) for d in desired]

    async def _prepare_envs(self) -> None:
        """Prepare each live env never deployed to, once; undo it for envs no longer live."""
        if self._prepared is None or not self._tenancy_changed:
            return
        self._tenancy_changed = False
        live, undeployed = await asyncio.to_thread(live_env_ids, self.store)
        for env_id in sorted(self._prepared - live):
            self._prepared.discard(env_id)
            self.runtime.release_env(env_id)
        for env_id in sorted(undeployed - self._prepared):
            self._prepared.add(env_id)
            task = asyncio.create_task(self._prepare_env(env_id), name=f"prepare-{env_id}")
            self._inspections.add(task)
            task.add_done_callback(self._inspections.discard)

    async def _prepare_env(self, env_id: str) -> None:
        try:
            await self.runtime.prepare_env(env_id)
        except RuntimeError_ as e:
            # Not an error yet: the first create of an instance of the env tries again.
            log.info("could not prepare env %s ahead of its first deploy: %s", env_id, e)

    def _hold_back(self, plan: Plan, now: float) -> tuple[Plan, float | None]:
        """Drop creates and pulls still backing off after a failure; say when to look again."""
        kept: list[Action] = []
        waits = []
        for action in plan.actions:
            key = None
            if isinstance(action, Create):
                key = action.desired.spec_hash
            elif isinstance(action, Pull):
                key = f"pull:{action.image}"
            until = self.ledger.hold_until.get(key, 0.0) if key else 0.0
            if until > now:
                waits.append(until - now)
                continue
            kept.append(action)
        return Plan(tuple(kept), plan.wake_in), (min(waits) if waits else None)

    # --- observation -------------------------------------------------------------------------

    def _view(self, o: ObservedContainer, now: float) -> InstanceView:
        state: str = o.state
        finished_at = o.finished_at
        if state == "created" and o.container_id in self.ledger.failed_starts:
            state = "exited"  # a start that failed is a crash, not a container still to start
            finished_at = self.ledger.failed_start_at.get(o.container_id, now)
        health, reason = self._health_of(o, now)
        desired = self._desired.get(o.spec_hash)
        restarts = self.ledger.restarts.get(o.instance_id, 0)
        if restarts and health == "healthy" and o.started_at and now - o.started_at > STABLE_AFTER:
            # Stable for a while: the next crash starts the backoff from the beginning again.
            restarts = self.ledger.restarts[o.instance_id] = 0
        return InstanceView(
            instance_id=o.instance_id, container_id=o.container_id, env_id=o.env_id,
            workload=o.workload, release_id=o.release_id, spec_hash=o.spec_hash, state=state,
            health=health, health_reason=reason,
            restarts=restarts, exit_code=o.exit_code,
            oom_killed=o.oom_killed, started_at=o.started_at, finished_at=finished_at,
            memory=o.memory or (desired.memory if desired else 0),
            volumes=o.volumes,
        )

    def _health_of(self, o: ObservedContainer, now: float) -> tuple[Health, str | None]:
        if o.state != "running":
            return "none", None
        desired = self._desired.get(o.spec_hash)
        if desired is None:
            return "healthy", None  # an older release's instance: it passed when it started
        up_for = now - (o.started_at or now)
        waiting = desired.min_ready > 0 and up_for < desired.min_ready
        if desired.health is None:
            if not waiting:
                return "healthy", None
            return "starting", f"up {up_for:.1f}s of the {desired.min_ready:g}s min_ready"
        state = self.ledger.health.setdefault(o.container_id, HealthState())
        if state.since is None:
            state.since = now
        # Grace runs from the later of the container's start and this daemon first seeing it:
        # after a daemon restart, long-running instances get probed again, not condemned.
        began = max(o.started_at or now, state.since)
        if state.status == "starting" and now - began > desired.health.grace:
            state.status = "unhealthy"
            state.reason = (
                f"not healthy within {desired.health.grace:g}s of starting"
                + (f" (last probe: {state.reason})" if state.reason else "")
            )
        if state.status == "healthy" and waiting:
            return "starting", (f"health check passes; up {up_for:.1f}s of the "
                                f"{desired.min_ready:g}s min_ready")
        return state.status, state.reason

    def _next_ready(self, now: float) -> float | None:
        """When a running instance will have been up for its workload's min_ready."""
        waits = []
        for o in self._observed:
            desired = self._desired.get(o.spec_hash)
            if o.state == "running" and desired and desired.min_ready > 0 and o.started_at:
                left = o.started_at + desired.min_ready - now
                if left > 0:
                    waits.append(left)
        return min(waits) if waits else None

    async def _images_present(self, desired: list[DesiredWorkload]) -> set[str]:
        for image in {d.image for d in desired if d.count > 0} - self.ledger.images:
            if await self.runtime.has_image(image):
                self.ledger.images.add(image)
        return set(self.ledger.images)

    async def _host_capacity(self) -> Capacity:
        if self._capacity is None:
            cap = await self.runtime.capacity()
            self._capacity = Capacity(cap.cpus, cap.memory)
        return self._capacity

    async def _record_recovery(self, observed: list[ObservedContainer]) -> None:
        by_env: dict[str, list[ObservedContainer]] = {}
        for o in observed:
            by_env.setdefault(o.env_id, []).append(o)
        for env_id, containers in by_env.items():
            running = sum(1 for o in containers if o.state == "running")
            await asyncio.to_thread(
                observed_service.record_event, self.store, self.clock, env_id=env_id,
                step="recover",
                outcome="info",
                message=f"platd started and found {len(containers)} instance(s) of this env "
                f"({running} running); resuming from their labels",
            )

    async def _record_crashes(self, observed: list[ObservedContainer]) -> None:
        for o in observed:
            before = self.ledger.last_state.get(o.container_id)
            if before == "running" and o.state in ("exited", "dead") and (
                o.container_id not in self.ledger.stopping
            ):
                why = " (out of memory)" if o.oom_killed else ""
                await asyncio.to_thread(
                    observed_service.record_event, self.store, self.clock, env_id=o.env_id,
                    release_id=o.release_id, workload=o.workload, instance_id=o.instance_id,
                    step="crash", outcome="failed", category="runtime",
                    message=f"instance {o.instance_id} exited with code {o.exit_code}{why}",
                )

    def _rows(
        self, views: list[InstanceView], pending: Mapping[tuple[str, str], object],
    ) -> list[observed_service.InstanceRow]:
        published = {o.container_id: o.published for o in self._observed}
        ips = {o.container_id: o.ip for o in self._observed}
        rows = [
            observed_service.InstanceRow(
                instance_id=v.instance_id, env_id=v.env_id, workload=v.workload,
                release_id=v.release_id, spec_hash=v.spec_hash, container_id=v.container_id,
                state=v.state, health=v.health, restarts=v.restarts, exit_code=v.exit_code,
                started_at=v.started_at,
                ports={p: f"127.0.0.1:{h}" for p, h in published.get(v.container_id, {}).items()},
                reason=v.health_reason, ip=ips.get(v.container_id),
            )
            for v in views
        ]
        for (env_id, workload), action in pending.items():
            d = action.desired  # type: ignore[attr-defined]
            for i in range(action.missing):  # type: ignore[attr-defined]
                rows.append(observed_service.InstanceRow(
                    instance_id=f"pending-{d.spec_hash}-{i}", env_id=env_id, workload=workload,
                    release_id=d.release_id, spec_hash=d.spec_hash, container_id=None,
                    state="pending", health="none", restarts=0, exit_code=None,
                    started_at=None, ports={},
                    reason=action.reason,  # type: ignore[attr-defined]
                ))
        return rows

    # --- watchers ----------------------------------------------------------------------------

    async def _watch_runtime(self) -> None:
        while True:
            try:
                async for event in self.runtime.events(self.store.host_id):
                    if not self._caused_here(event):
                        self.poke()
            except RuntimeError_ as e:
                log.warning("runtime event stream ended: %s; reconnecting", e)
            await asyncio.sleep(1.0)

    def _caused_here(self, event: RuntimeEvent) -> bool:
        """Whether ``event`` only echoes what this host's executor did and has already woken
        a pass for: the kill, die, stop and destroy of an instance it stops (the stop wakes
        one when it ends), and the start of an instance it created (woken once started).

        Each echo cost a whole pass (list, inspect, load, write), and a pass under way when a
        new instance turns healthy holds the rollout until it ends: during a rollback the old
        release's instances stopping made four of them (measured: 7 passes per rollback, 3 per
        deploy into a fresh env)."""
        cid = event.container_id
        if cid in self.ledger.stopping or cid in self.ledger.removed:
            return True
        if cid in self.ledger.announced:
            # Once: a later start (after a crash, a `docker start`) is news again.
            self.ledger.announced.discard(cid)
            return event.action == "start"
        return False

    def _started(self, container_id: str, spec_hash: str,
                 recorded: asyncio.Future[None] | None = None) -> None:
        """The executor started a container: inspect it and have it probed at once, rather
        than after the next pass has listed it and the prober's next round (measured: ~110 ms
        of a one-instance rollout). Only while the prober runs, for workloads it probes."""
        desired = self._desired.get(spec_hash)
        if not self._probing or desired is None or desired.health is None:
            return
        task = asyncio.create_task(self._inspect_started(container_id, recorded),
                                   name=f"inspect-{container_id[:12]}")
        self._inspections.add(task)
        task.add_done_callback(self._inspections.discard)

    async def _inspect_started(
        self, container_id: str, recorded: asyncio.Future[None] | None = None,
    ) -> None:
        inspected_at = time.monotonic()
        try:
            o = await self.runtime.inspect(container_id)
        except RuntimeError_ as e:
            log.debug("inspecting started container %s failed: %s", container_id, e)
            return  # the next pass lists it
        if o is not None:
            # Probed while its "running" event is still being written: a health event waits
            # for that write (``_probe_one``), the probe does not (measured: 2-8 ms of a
            # rollout, more while other writes queue for the store).
            if recorded is not None and not recorded.done():
                self._recorded[container_id] = recorded
                recorded.add_done_callback(
                    functools.partial(self._forget_recorded, container_id))
            self._fresh[container_id] = (inspected_at, o)
            self._probe_now.set()

    def _forget_recorded(self, container_id: str, _written: asyncio.Future[None]) -> None:
        self._recorded.pop(container_id, None)

    def _watched(self) -> list[ObservedContainer]:
        """What the prober looks at: the last pass's containers, each replaced by a newer
        inspection made right after its start."""
        if not self._fresh:
            return self._observed
        return [o for o in self._observed if o.container_id not in self._fresh] + [
            o for _at, o in self._fresh.values()]

    async def _probe_loop(self) -> None:
        """Probe each running instance when its next probe is due, each probe a task of its own.

        A probe may wait its whole timeout (an address that no longer answers: an instance
        removed since the last listing, an app that hangs); others must not wait behind it.
        Probes awaited together held a rollback's new instance unprobed for the timeout of a
        probe of the instance just removed (measured: 600-1700 ms of a 1.3-2.2 s rollback)."""
        self._probing = True
        try:
            while True:
                self._probe_now.clear()
                if self._probe_error is not None:
                    raise self._probe_error
                now = self.clock.time()
                soonest = now + STARTING_PROBE_EVERY
                for o in self._watched():
                    desired = self._desired.get(o.spec_hash)
                    if o.state != "running" or desired is None or desired.health is None:
                        continue
                    cid = o.container_id
                    if cid in self.ledger.stopping or cid in self.ledger.removed:
                        continue
                    if cid in self._probes:
                        continue  # its end wakes this loop
                    state = self.ledger.health.setdefault(cid, HealthState())
                    if now >= state.next_probe:
                        task = asyncio.create_task(self._probe_one(o, desired, state),
                                                   name=f"probe-{cid[:12]}")
                        self._probes[cid] = task
                        task.add_done_callback(functools.partial(self._probed, cid))
                    else:
                        soonest = min(soonest, state.next_probe)
                try:
                    # Woken early by a pass or a start that brings a container to probe, and
                    # by the end of each probe (its next one is then due later).
                    async with asyncio.timeout(min(max(soonest - now, 0.005),
                                                   STARTING_PROBE_EVERY)):
                        await self._probe_now.wait()
                except TimeoutError:
                    pass
        finally:
            self._probing = False
            for task in self._probes.values():
                task.cancel()

    def _probed(self, container_id: str, task: asyncio.Task[None]) -> None:
        if self._probes.get(container_id) is task:
            del self._probes[container_id]
        if not task.cancelled() and task.exception() is not None and self._probe_error is None:
            self._probe_error = task.exception()  # raised by the loop: the daemon stops
        self._probe_now.set()

    async def _probe_one(
        self, o: ObservedContainer, d: DesiredWorkload, state: HealthState,
    ) -> None:
        check = d.health
        assert check is not None
        assert check.port is not None
        if o.ip:
            host, port = o.ip, check.port
        elif check.port in o.published:
            host, port = "127.0.0.1", o.published[check.port]
        else:
            state.reason = "the instance has no address to probe"
            state.next_probe = self.clock.time() + STARTING_PROBE_EVERY
            return
        result = await self._probe(check, host, port)
        if o.container_id in self.ledger.stopping or o.container_id in self.ledger.removed:
            return  # it began stopping meanwhile: its health no longer matters
        before = state.status
        state.reason = None if result.ok else result.detail
        if result.ok:
            state.status, state.failures = "healthy", 0
        elif state.status == "healthy":
            state.failures += 1
            if state.failures >= check.retries:
                state.status = "unhealthy"
        starting = state.status == "starting"
        if starting:
            state.probes += 1
        state.next_probe = self.clock.time() + (
            (STARTING_PROBE_SOON if state.probes < STARTING_PROBES_SOON else STARTING_PROBE_EVERY)
            if starting else check.interval
        )
        if state.status != before:
            # The pass reads health from the ledger: wake it before the event is written, so
            # a rollout moves on without waiting for the write (measured: 25-47 ms).
            self.poke()
            recorded = self._recorded.get(o.container_id)
            if recorded is not None:
                # Its "running" event first, so that the history says "running" before it
                # says "healthy" (shielded: the executor awaits that write too, and a
                # cancelled probe must not cancel it). Its failure is the executor's to report.
                with contextlib.suppress(Exception):
                    await asyncio.shield(recorded)
            await asyncio.to_thread(
                observed_service.record_event, self.store, self.clock, env_id=o.env_id,
                release_id=o.release_id, workload=o.workload, instance_id=o.instance_id,
                step="health", outcome="ok" if result.ok else "failed",
                category=None if result.ok else "health",
                message=f"instance {o.instance_id} is {state.status}: {result.detail}",
            )
