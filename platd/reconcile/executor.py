"""The executor: carries out a plan's actions through the Runtime and records what happened.

Pulls run first (a create needs its image), then creates, starts and restarts concurrently.
Stops run as background tasks because a container may take its full grace period to exit, and a
rollout must not wait on that; the stopping instance is hidden from the planner meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from platd.clock import Clock
from platd.reconcile import desired, observed
from platd.reconcile.ledger import HealthState, Ledger
from platd.reconcile.model import (
    Create,
    InstanceView,
    MarkRelease,
    Pending,
    Plan,
    Pull,
    Restart,
    Start,
    Stop,
)
from platd.reconcile.secret_files import SecretFiles
from platd.runtime.base import ImageMissing, InstanceSpec, Runtime, RuntimeError_
from platd.spec.ids import short_id
from platd.store.db import Store

log = logging.getLogger("platd.reconcile")

STOP_TIMEOUT = 10.0
FAILURE_LOG_LINES = 10


class Executor:
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        ledger: Ledger,
        secret_files: SecretFiles,
        poke: Callable[[], None],
        clock: Clock,
        *,
        before_stop: Callable[[str], Awaitable[None]] | None = None,
        before_remove: Callable[[str], Awaitable[None]] | None = None,
        on_started: Callable[[str, str, asyncio.Future[None] | None], None] | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.ledger = ledger
        self.secret_files = secret_files
        self.poke = poke
        self.clock = clock
        self._stop_tasks: set[asyncio.Task[None]] = set()
        # Awaited before an instance is told to stop (ingress stops sending it new connections).
        self.before_stop = before_stop
        # Awaited between stop and remove (the log collector reads the container's last lines).
        self.before_remove = before_remove
        # Told each container this executor started, its spec hash (the prober probes it) and
        # the write of its "running" event, if one is under way (a health event waits for it).
        self.on_started = on_started or (lambda _container_id, _spec_hash, _recorded: None)

    async def execute(
        self, plan: Plan,
        write_rows: Callable[[Sequence[observed.Verdict]], Awaitable[None]] | None = None,
    ) -> None:
        """Carry out ``plan``. ``write_rows(verdicts)`` (the pass writes its instance rows, and
        the plan's converged verdicts in the same transaction) is awaited once, before any
        stop (ingress drains by those rows), when the plan has a stop or a converged verdict:
        whoever reads "converged" finds the healthy instances it was decided on."""
        failed_images = set()
        failed_releases = set()
        pulls = [a for a in plan.actions if isinstance(a, Pull)]
        for pull, error in zip(pulls, await asyncio.gather(*map(self._pull, pulls)), strict=True):
            if error is not None:
                failed_images.add(pull.image)
                if pull.fatal:
                    failed_releases.add(pull.release_id)
        verdicts = [a for a in plan.actions if isinstance(a, MarkRelease)
                    and a.release_id not in failed_releases]  # a failed pull decided those
        stops = [a for a in plan.actions if isinstance(a, Stop)]
        converged = [a for a in verdicts if a.status == "converged"]
        work = []
        for action in plan.actions:
            if isinstance(action, Create) and action.desired.image not in failed_images:
                work.append(self._create(action))
            elif isinstance(action, Start):
                work.append(self._start(action))
            elif isinstance(action, Restart):
                work.append(self._restart(action))
            elif isinstance(action, Pending):
                work.append(self._pending(action))
        tasks = [asyncio.ensure_future(w) for w in work]  # creates first: they are the longest
        rows: asyncio.Future[None] | None = None
        if write_rows is not None and (converged or stops):
            rows = asyncio.ensure_future(write_rows([_verdict(a) for a in converged]))
            tasks.append(rows)
        marks = [asyncio.ensure_future(self._mark(a)) for a in verdicts
                 if rows is None or a.status != "converged"]
        tasks += marks
        done = asyncio.gather(*tasks)
        if stops:
            # The stops' events wait for the rows and the verdicts: a rollout's verdict lands
            # before the events of the stops of the old instances it replaces, so a follower
            # (`plat rollback`) is not woken by those first to ask once more, and the verdict
            # never waits behind them for the store's one writer.
            try:
                if rows is not None:
                    await rows  # no stop without the rows: ingress would drain by stale ones
            except BaseException:
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            if marks:
                await asyncio.wait(marks)
        for stop in stops:
            self._stop_in_background(stop)
        await done

    async def _event(self, **fields: Any) -> None:
        await asyncio.to_thread(observed.record_event, self.store, self.clock, **fields)

    async def _pull(self, action: Pull) -> RuntimeError_ | None:
        await self._event(
            env_id=action.env_id,
            release_id=action.release_id,
            step="pull",
            outcome="started",
            message=f"pulling {action.image}",
        )
        try:
            await self.runtime.pull(action.image)
        except RuntimeError_ as e:
            if action.fatal:
                await asyncio.to_thread(
                    observed.mark_release,
                    self.store,
                    self.clock,
                    env_id=action.env_id,
                    release_id=action.release_id,
                    status="failed",
                    step="pull",
                    category="image",
                    message=str(e),
                )
            else:
                self._hold_off(f"pull:{action.image}")
                await self._event(
                    env_id=action.env_id,
                    release_id=action.release_id,
                    step="pull",
                    outcome="failed",
                    category="image",
                    message=f"{e}; retrying",
                )
            return e
        self.ledger.images.add(action.image)
        await self._event(
            env_id=action.env_id,
            release_id=action.release_id,
            step="pull",
            outcome="ok",
            message=f"pulled {action.image}",
        )
        return None

    async def _create(self, action: Create) -> None:
        d = action.desired
        instance_id = short_id()
        where = {
            "env_id": d.env_id,
            "release_id": d.release_id,
            "workload": d.workload,
            "instance_id": instance_id,
        }
        try:
            # Without secrets, no hop to a worker thread: while the pass's verdict is written
            # in another one, the hop back waited for the GIL (measured: ~5 ms before the
            # engine was asked to create).
            files = (await asyncio.to_thread(self.secret_files.write, instance_id,
                                             d.secret_versions)
                     if d.secret_versions else {})
        except Exception as e:
            await asyncio.to_thread(self.secret_files.remove, instance_id)
            await self._create_failed(
                d, where, "config", f"cannot deliver secret files: {e or type(e).__name__}"
            )
            return
        spec = InstanceSpec(
            instance_id=instance_id,
            host_id=self.store.host_id,
            env_id=d.env_id,
            env_path=d.env_path,
            workload=d.workload,
            release_id=d.release_id,
            spec_hash=d.spec_hash,
            image=d.image,
            command=d.command,
            env={**d.env, "PLAT_INSTANCE": instance_id},
            cpu=d.cpu,
            memory=d.memory,
            publish=dict.fromkeys(d.publish, 0),
            files=files,
            mounts={v.target: v.source for v in d.volumes if not v.read_only},
            read_only_mounts={v.target: v.source for v in d.volumes if v.read_only},
            volumes=tuple(v.name for v in d.volumes),
        )
        # Written while the engine creates the container rather than before (a write is ~5 ms
        # of a rollout that waits for it): it is still in the history before the outcome of
        # the create, and a crash of platd during the create still leaves a trace.
        announced = asyncio.create_task(self._event(
            **where,
            step="create",
            outcome="started",
            message=f"starting instance {instance_id} of {d.workload} (release v{d.release_seq})",
        ))
        try:
            container_id = await self._create_container(spec, where)
        except RuntimeError_ as e:
            await announced
            await asyncio.to_thread(self.secret_files.remove, instance_id)
            await self._create_failed(
                d, where, e.category, f"instance {instance_id} could not be created: {e}"
            )
            return
        self.ledger.health[container_id] = HealthState()
        try:
            await self.runtime.start(container_id)
        except RuntimeError_ as e:
            # The container exists: from here on it is an instance that crashes at start,
            # retried with backoff and failing its release after three attempts.
            self._start_failed(container_id, e)
            self.ledger.restarts[instance_id] = 1
            await announced
            await self._event(
                **where,
                step="create",
                outcome="failed",
                category=e.category,
                message=f"instance {instance_id} could not start: {e}",
            )
            self.poke()
            return
        self.ledger.create_failures.pop(d.spec_hash, None)
        self.ledger.last_state[container_id] = "running"
        self.ledger.announced.add(container_id)
        self.poke()
        await announced
        recorded = asyncio.ensure_future(self._event(
            **where, step="create", outcome="ok", message=f"instance {instance_id} is running"
        ))
        # Inspected (for its address) and probed while that is written; its health event waits
        # for the write, so that the history says "running" before it says "healthy".
        self.on_started(container_id, d.spec_hash, recorded)
        await recorded

    async def _create_container(self, spec: InstanceSpec, where: dict[str, Any]) -> str:
        """Create the container; if its image is gone from the host (``docker rmi``, a prune),
        forget that it was here, pull it again and create once more."""
        try:
            return await self.runtime.create(spec)
        except ImageMissing:
            self.ledger.images.discard(spec.image)
        await self._event(
            **where, step="pull", outcome="started",
            message=f"image {spec.image} is no longer on this host (removed outside platd); "
            "pulling it again",
        )
        await self.runtime.pull(spec.image)
        self.ledger.images.add(spec.image)
        await self._event(**where, step="pull", outcome="ok", message=f"pulled {spec.image}")
        return await self.runtime.create(spec)

    def _start_failed(self, container_id: str, error: Exception) -> None:
        self.ledger.failed_starts[container_id] = str(error)
        self.ledger.failed_start_at[container_id] = self.clock.time()

    def _hold_off(self, key: str) -> None:
        """Back off before trying ``key`` again, exponentially, so a failure cannot spin."""
        count = self.ledger.create_failures.get(key, 0) + 1
        self.ledger.create_failures[key] = count
        self.ledger.hold_until[key] = self.clock.time() + min(0.5 * 2**count, 30.0)

    async def _create_failed(
        self, d: Any, where: dict[str, Any], category: str, message: str
    ) -> None:
        self._hold_off(d.spec_hash)
        await self._event(
            **where, step="create", outcome="failed", category=category, message=message
        )
        if not d.release_converged and self.ledger.create_failures[d.spec_hash] >= 3:
            await asyncio.to_thread(
                observed.mark_release,
                self.store,
                self.clock,
                env_id=d.env_id,
                release_id=d.release_id,
                status="failed",
                step="create",
                category=category,
                message=f"{message} (3 attempts)",
            )

    async def _ensure_secret_files(self, instance_id: str, release_id: str) -> None:
        """Secret files live on a tmpfs: after a host reboot they must be written again."""
        if self.secret_files.exists(instance_id):
            return
        versions = await asyncio.to_thread(desired.release_secret_versions, self.store, release_id)
        await asyncio.to_thread(self.secret_files.write, instance_id, versions)

    async def _start(self, action: Start) -> None:
        inst = action.instance
        try:
            await self._ensure_secret_files(inst.instance_id, inst.release_id)
            await self.runtime.start(inst.container_id)
            self.on_started(inst.container_id, inst.spec_hash, None)
        except RuntimeError_ as e:
            self._start_failed(inst.container_id, e)
            self.ledger.restarts[inst.instance_id] = inst.restarts + 1
            await self._event(
                **_where(inst),
                step="start",
                outcome="failed",
                category=e.category,
                message=f"instance {inst.instance_id} could not start: {e}",
            )

    async def _restart(self, action: Restart) -> None:
        inst = action.instance
        attempt = inst.restarts + 1
        self.ledger.restarts[inst.instance_id] = attempt
        self.ledger.health[inst.container_id] = HealthState()
        await self._event(
            **_where(inst),
            step="restart",
            outcome="started",
            category="runtime",
            message=f"restarting instance {inst.instance_id} ({action.reason}); restart {attempt}",
        )
        try:
            if inst.state == "running":
                await self.runtime.stop(inst.container_id, timeout=STOP_TIMEOUT)
            await self._ensure_secret_files(inst.instance_id, inst.release_id)
            await self.runtime.start(inst.container_id)
            self.on_started(inst.container_id, inst.spec_hash, None)
        except RuntimeError_ as e:
            self._start_failed(inst.container_id, e)
            await self._event(
                **_where(inst),
                step="restart",
                outcome="failed",
                category=e.category,
                message=f"instance {inst.instance_id} could not restart: {e}",
            )

    def _stop_in_background(self, action: Stop) -> None:
        cid = action.instance.container_id
        if cid in self.ledger.stopping:
            return
        self.ledger.stopping.add(cid)
        task = asyncio.create_task(self._stop(action), name=f"stop-{cid[:12]}")
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    async def _stop(self, action: Stop) -> None:
        inst = action.instance
        where = _where(inst)
        try:
            await self._event(
                **where,
                step="stop",
                outcome="started",
                message=f"stopping instance {inst.instance_id}: {action.reason}",
            )
            if self.before_stop is not None:
                await self.before_stop(inst.instance_id)
            await self.runtime.stop(inst.container_id, timeout=STOP_TIMEOUT)
            if self.before_remove is not None:
                await self.before_remove(inst.container_id)
            await self.runtime.remove(inst.container_id)
            await asyncio.to_thread(self.secret_files.remove, inst.instance_id)
            self.ledger.restarts.pop(inst.instance_id, None)
            self.ledger.forget(inst.container_id)
            self.ledger.removed.add(inst.container_id)
            await self._event(
                **where,
                step="stop",
                outcome="ok",
                message=f"instance {inst.instance_id} stopped and removed",
            )
        except Exception as e:
            log.warning("stopping %s failed: %s", inst.instance_id, e)
            await self._event(
                **where,
                step="stop",
                outcome="failed",
                category="runtime",
                message=f"could not stop instance {inst.instance_id}: {e}",
            )
        finally:
            self.ledger.stopping.discard(inst.container_id)
            self.poke()

    async def _mark(self, action: MarkRelease) -> None:
        message = action.message or _default_message(action)
        if action.status in ("failed", "degraded") and action.instance is not None:
            lines = await self._last_lines(action.instance.container_id)
            if lines:
                message += f"\nlast log lines of instance {action.instance.instance_id}:\n"
                message += "\n".join("  " + line for line in lines)
        await asyncio.to_thread(
            observed.mark_release,
            self.store,
            self.clock,
            env_id=action.env_id,
            release_id=action.release_id,
            status=action.status,
            step=action.step,
            category=action.category,
            message=message,
        )

    async def _last_lines(self, container_id: str) -> list[str]:
        try:
            return await self.runtime.tail_logs(container_id, FAILURE_LOG_LINES)
        except RuntimeError_:
            return []

    async def _pending(self, action: Pending) -> None:
        key = (action.desired.env_id, action.desired.workload)
        if self.ledger.pending.get(key) == action.reason:
            return
        self.ledger.pending[key] = action.reason
        await self._event(
            env_id=action.desired.env_id,
            release_id=action.desired.release_id,
            workload=action.desired.workload,
            step="schedule",
            outcome="info",
            category="scheduling",
            message=action.reason,
        )

    async def drain(self) -> None:
        """Wait for stops in flight (used on shutdown and by tests)."""
        if self._stop_tasks:
            await asyncio.gather(*self._stop_tasks, return_exceptions=True)


def _verdict(action: MarkRelease) -> observed.Verdict:
    return observed.Verdict(
        env_id=action.env_id, release_id=action.release_id, status=action.status,
        step=action.step, category=action.category,
        message=action.message or _default_message(action),
    )


def _default_message(action: MarkRelease) -> str:
    return {
        "rolling": "rollout started",
        "converged": "rollout converged: every instance is running and healthy",
        "failed": "rollout failed",
        "degraded": "release degraded: its instances crash-loop",
    }[action.status]


def _where(inst: InstanceView) -> dict[str, str]:
    """Which instance an event is about: its env, release, workload and id."""
    return {
        "env_id": inst.env_id,
        "release_id": inst.release_id,
        "workload": inst.workload,
        "instance_id": inst.instance_id,
    }
