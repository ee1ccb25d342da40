"""The planner: desired workloads + observed instances -> the actions still needed.

Pure and deterministic: it reads no clock, no database and no Docker; everything arrives as
arguments. Each pass of the control loop calls it with fresh observations, so an action that has
already happened simply no longer appears (idempotent by construction, like pyinfra operations).

Rollout rule: start the new instances, wait until they pass their health check, then stop old
ones only as far as the number of healthy instances stays at or above the desired count. A
release whose instances keep failing before it ever converged is marked failed and left alone;
the instances of the last healthy release keep running (and keep being restarted).

A release is watched for WATCH_WINDOW seconds after it converges: if one of its instances
crash-loops then (crashes MAX_START_ATTEMPTS times in a row), the release is marked degraded. It
keeps running and being restarted (nothing better is known to be there), but it no longer counts
as known-good: a bare ``plat rollback`` skips it.

Workloads that mount a volume read-write roll out *stop-first* instead: a volume is mounted by one
instance at a time, so the old instance is stopped (once the new image is on the host, to keep
the gap short) and the new one is created only when no other instance holds the volume.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from platd.reconcile.model import (
    Action,
    Capacity,
    Create,
    DesiredWorkload,
    InstanceView,
    MarkRelease,
    Pending,
    Plan,
    Pull,
    Restart,
    Start,
    Stop,
)
from platd.spec.sizes import format_size

MAX_START_ATTEMPTS = 3  # crashes of one new instance before its release is declared failed
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
WATCH_WINDOW = 300.0  # seconds after converging in which a crash loop degrades the release


def keep_surplus_only_if_running(
    desired: list[DesiredWorkload], running: Mapping[str, int],
) -> list[DesiredWorkload]:
    """Cap each workload's surplus (``DesiredWorkload.surplus``) at what this pass saw run.

    The surplus comes from the instance rows this host wrote on its last pass, which can be
    older than the containers: a host back from a crash or reboot still has rows of instances
    that went with it. Kept while they run, a surplus is never created: creating one would run
    a moved slot twice. ``running``: containers this pass saw running, per spec hash.
    """
    out = []
    for d in desired:
        if d.surplus:
            assigned = d.count - d.surplus
            kept = min(d.surplus, max(running.get(d.spec_hash, 0) - assigned, 0))
            d = replace(d, count=assigned + kept, surplus=kept)
        out.append(d)
    return out


def backoff(restarts: int) -> float:
    """Seconds to wait after the ``restarts``-th crash before starting the instance again."""
    return float(min(BACKOFF_BASE * 2**restarts, BACKOFF_MAX))


def plan(
    desired: Iterable[DesiredWorkload],
    observed: Iterable[InstanceView],
    *,
    images_present: set[str],
    release_status: dict[str, str],
    capacity: Capacity,
    now: float,
    stopping: Iterable[InstanceView] = (),
) -> Plan:
    desired = sorted(desired, key=lambda d: (d.env_path, d.workload))
    observed = list(observed)
    actions: list[Action] = []
    wake: list[float] = []

    by_key: dict[tuple[str, str], list[InstanceView]] = defaultdict(list)
    for inst in observed:
        by_key[inst.key].append(inst)
    wanted = {d.key for d in desired}
    for inst in observed:
        if inst.key not in wanted:
            actions.append(Stop(inst, "its workload or env is no longer deployed"))

    free_memory = capacity.memory - sum(i.memory for i in observed if i.alive)
    verdicts: dict[str, list[MarkRelease | None]] = defaultdict(list)
    releases: dict[str, DesiredWorkload] = {}
    pulls: set[str] = set()
    degraded: set[str] = set()  # releases marked degraded by this plan

    for d in desired:
        releases[d.release_id] = d
        insts = by_key[d.key]
        mine = [i for i in insts if i.spec_hash == d.spec_hash]
        old = [i for i in insts if i.spec_hash != d.spec_hash]

        if d.release_failed:
            actions += [Stop(i, f"release v{d.release_seq} failed") for i in mine]
            actions += _keep_alive(old, now, wake)
            continue

        failure = None if d.release_converged else _rollout_failure(d, mine)
        if failure is not None:
            verdicts[d.release_id].append(failure)
            continue

        if d.release_id not in degraded:
            loop = _crash_loop(d, mine, now)
            if loop is not None:
                degraded.add(d.release_id)
                actions.append(loop)
        actions += _keep_alive(mine, now, wake)
        actions += [Start(i) for i in mine if i.state == "created"]

        if d.stop_first:
            holders = _holders(d, observed, stopping, wanted)
            step, placed_memory, verdict = _stop_first(
                d, mine, old, holders, images_present, pulls, capacity, free_memory,
            )
            actions += step
            free_memory -= placed_memory
            verdicts[d.release_id].append(verdict)
            continue

        missing = d.count - len(mine)
        # Only a new container needs the image; running ones keep theirs even if it was pruned.
        if missing > 0 and d.image not in images_present and d.image not in pulls:
            pulls.add(d.image)
            actions.append(Pull(d.image, d.env_id, d.release_id, fatal=not d.release_converged))
        if missing > 0:
            placed, verdict = _place(d, missing, capacity, free_memory)
            if verdict is not None and d.release_converged:
                # A scale beyond the host after the release converged: explain, keep serving.
                actions.append(Pending(d, missing, verdict.message or "cannot be placed"))
                verdicts[d.release_id].append(None)
                continue
            if verdict is not None:
                verdicts[d.release_id].append(verdict)
                continue
            actions += [Create(d) for _ in range(placed)]
            free_memory -= placed * d.memory
            if placed < missing:
                need = format_size(d.memory)
                actions.append(Pending(
                    d, missing - placed,
                    f"{missing - placed} instance(s) wait for memory: each needs {need}, "
                    f"{format_size(max(free_memory, 0))} of {format_size(capacity.memory)} is free",
                ))
        elif missing < 0:
            extras = sorted(mine, key=lambda i: (i.health == "healthy", -(i.started_at or now)))
            actions += [Stop(i, f"scaled down to {d.count}") for i in extras[:-missing]]

        healthy_mine = sum(1 for i in mine if i.state == "running" and i.health == "healthy")
        healthy_old = sorted(
            (i for i in old if i.state == "running" and i.health == "healthy"),
            key=lambda i: i.started_at or 0,
        )
        # Until the new instances are all healthy the old ones still serve, and a failed
        # rollout keeps them: a crashed one is restarted, not dropped.
        sick_old = [i for i in old if i not in healthy_old]
        if healthy_mine >= d.count:
            actions += [Stop(i, f"replaced by release v{d.release_seq}") for i in sick_old]
        else:
            actions += _keep_alive(sick_old, now, wake)
        surplus = healthy_mine + len(healthy_old) - d.count
        stopping_old = healthy_old[: max(0, min(surplus, len(healthy_old)))]
        actions += [Stop(i, f"replaced by release v{d.release_seq}") for i in stopping_old]

        done = (
            len(mine) == d.count
            and healthy_mine == d.count
            and len(stopping_old) == len(healthy_old)
        )
        verdicts[d.release_id].append(
            MarkRelease(d.env_id, d.release_id, "converged") if done else None
        )

    for release_id, marks in verdicts.items():
        d = releases[release_id]
        failed = next((m for m in marks if m is not None and m.status == "failed"), None)
        if failed is not None:
            if release_status.get(release_id) != "failed":
                actions.append(failed)
        elif all(m is not None for m in marks):
            if release_status.get(release_id) not in ("converged", "degraded"):
                actions.append(MarkRelease(d.env_id, release_id, "converged"))
        elif release_status.get(release_id) not in ("rolling", "converged", "degraded"):
            actions.append(MarkRelease(d.env_id, release_id, "rolling"))

    return Plan(tuple(actions), min(wake) if wake else None)


def _holders(
    d: DesiredWorkload, observed: list[InstanceView], stopping: Iterable[InstanceView],
    wanted: set[tuple[str, str]],
) -> list[InstanceView]:
    """Instances other than ``d``'s own that may still have one of its volumes mounted."""
    names = {v.name for v in d.volumes}
    out = [i for i in stopping if i.env_id == d.env_id and i.spec_hash != d.spec_hash
           and (i.key == d.key or names & set(i.volumes))]
    # Instances of workloads no longer deployed are being stopped above; they still hold theirs.
    out += [i for i in observed if i.env_id == d.env_id and i.key not in wanted and i.alive
            and names & set(i.volumes)]
    return out


def _stop_first(
    d: DesiredWorkload, mine: list[InstanceView], old: list[InstanceView],
    holders: list[InstanceView], images_present: set[str], pulls: set[str],
    capacity: Capacity, free_memory: int,
) -> tuple[list[Action], int, MarkRelease | None]:
    """One pass of a stop-first rollout: (actions, memory placed, verdict or None if not done)."""
    actions: list[Action] = []
    missing = d.count - len(mine)
    need_image = missing > 0 and d.image not in images_present
    if need_image and d.image not in pulls:
        pulls.add(d.image)
        actions.append(Pull(d.image, d.env_id, d.release_id, fatal=not d.release_converged))
    volumes = ", ".join(v.name for v in d.volumes if not v.read_only)
    if not need_image:
        actions += [Stop(i, f"replaced by release v{d.release_seq}, stop-first: volume "
                            f"{volumes} is mounted by one instance at a time") for i in old]
    placed = 0
    if missing > 0:
        waiting = len(old) + len(holders)
        problems = [v.problem for v in d.volumes if v.problem]
        if waiting and not need_image:
            actions.append(Pending(
                d, missing, f"stop-first: waiting for {waiting} old instance(s) to stop before "
                f"mounting volume {volumes} (one instance mounts a volume at a time)"))
        elif problems:
            actions.append(Pending(d, missing, problems[0]))
        elif not need_image:
            placed, verdict = _place(d, missing, capacity, free_memory)
            if verdict is not None and not d.release_converged:
                return actions, 0, verdict
            if verdict is not None:
                actions.append(Pending(d, missing, verdict.message or "cannot be placed"))
            actions += [Create(d) for _ in range(placed)]
            if 0 < placed < missing or (placed == 0 and verdict is None):
                actions.append(Pending(
                    d, missing - placed, f"{missing - placed} instance(s) wait for memory: "
                    f"each needs {format_size(d.memory)}, {format_size(max(free_memory, 0))} "
                    f"of {format_size(capacity.memory)} is free"))
        return actions, placed * d.memory, None
    if missing < 0:
        extras = sorted(mine, key=lambda i: (i.health == "healthy", -(i.started_at or 0)))
        actions += [Stop(i, f"scaled down to {d.count}") for i in extras[:-missing]]
        return actions, 0, None
    healthy = sum(1 for i in mine if i.state == "running" and i.health == "healthy")
    done = healthy == d.count and not old and not holders
    return actions, 0, MarkRelease(d.env_id, d.release_id, "converged") if done else None


def _rollout_failure(d: DesiredWorkload, mine: list[InstanceView]) -> MarkRelease | None:
    """A new instance that cannot start or never becomes healthy fails its release."""
    for inst in mine:
        if inst.state in ("exited", "dead") and inst.restarts + 1 >= MAX_START_ATTEMPTS:
            why = " (killed: out of memory)" if inst.oom_killed else ""
            return MarkRelease(
                d.env_id, d.release_id, "failed", step="start", category="runtime",
                message=f"instance {inst.instance_id} of {d.workload} exited with code "
                f"{inst.exit_code}{why}, {inst.restarts + 1} times in a row",
                instance=inst,
            )
        if inst.health == "unhealthy":
            return MarkRelease(
                d.env_id, d.release_id, "failed", step="health", category="health",
                message=f"instance {inst.instance_id} of {d.workload} failed its health check: "
                f"{inst.health_reason or 'no reason given'}",
                instance=inst,
            )
    return None


def _crash_loop(d: DesiredWorkload, mine: list[InstanceView], now: float) -> MarkRelease | None:
    """A release that converged here and crash-loops within the watch window is degraded."""
    if not d.release_converged or d.release_degraded or d.converged_at is None:
        return None
    if now - d.converged_at > WATCH_WINDOW:
        return None
    for inst in mine:
        down = inst.state in ("exited", "dead") or inst.health == "unhealthy"
        if down and inst.restarts + 1 >= MAX_START_ATTEMPTS:
            what = (f"exited with code {inst.exit_code}" if inst.state in ("exited", "dead")
                    else f"failed its health check ({inst.health_reason or 'no reason given'})")
            return MarkRelease(
                d.env_id, d.release_id, "degraded", step="watch", category="runtime",
                message=f"release v{d.release_seq} is degraded: instance {inst.instance_id} of "
                f"{d.workload} {what}, {inst.restarts + 1} times in a row within "
                f"{WATCH_WINDOW / 60:g}m of converging; a bare plat rollback skips it now",
                instance=inst,
            )
    return None


def _keep_alive(instances: list[InstanceView], now: float, wake: list[float]) -> list[Action]:
    """Restart crashed instances with exponential backoff; unhealthy running ones too."""
    actions: list[Action] = []
    for inst in instances:
        if inst.state in ("exited", "dead"):
            due = (inst.finished_at or now) + backoff(inst.restarts)
            if now >= due:
                actions.append(Restart(inst, f"exited with code {inst.exit_code}"))
            else:
                wake.append(due - now)
        elif inst.state == "running" and inst.health == "unhealthy":
            actions.append(Restart(inst, inst.health_reason or "health check failing"))
    return actions


def _place(
    d: DesiredWorkload, missing: int, capacity: Capacity, free_memory: int
) -> tuple[int, MarkRelease | None]:
    """How many of ``missing`` new instances fit now; a verdict if none ever could."""
    if d.cpu > capacity.cpus or d.memory > capacity.memory:
        return 0, MarkRelease(
            d.env_id, d.release_id, "failed", step="schedule", category="scheduling",
            message=f"{d.workload} needs {d.cpu:g} cpu and {format_size(d.memory)} per instance; "
            f"this host has {capacity.cpus:g} cpu and {format_size(capacity.memory)} in total",
        )
    if d.memory <= 0:
        return missing, None
    return max(0, min(missing, free_memory // d.memory)), None
