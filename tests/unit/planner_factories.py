"""Values and builders the planner tests share: desired workloads, observed instances, and a
short description of each action to compare plans by."""

from __future__ import annotations

from typing import Any

from platd.reconcile.model import (
    Action,
    Capacity,
    Create,
    DesiredWorkload,
    Health,
    InstanceView,
    MarkRelease,
    Pending,
    Plan,
    Pull,
    Restart,
    Start,
    Stop,
)
from platd.reconcile.planner import plan
from platd.spec.manifest import HealthCheck

MIB = 1024**2
GIB = 1024**3
IMAGE_V1 = "127.0.0.1:5000/hello@sha256:" + "1" * 64
IMAGE_V2 = "127.0.0.1:5000/hello@sha256:" + "2" * 64
TCP = HealthCheck(tcp=8080)
HOST = Capacity(cpus=4.0, memory=8 * GIB)
NOW = 100.0


def spec_of(release: str, workload: str = "web") -> str:
    return f"spec-{release}-{workload}"


def want(
    count: int = 2,
    *,
    workload: str = "web",
    release: str = "r2",
    env: str = "e1",
    image: str = IMAGE_V2,
    cpu: float = 0.25,
    memory: int = 64 * MIB,
    failed: bool = False,
    converged: bool = False,
) -> DesiredWorkload:
    """One desired workload; release "rN" has sequence number N."""
    return DesiredWorkload(
        env_id=env,
        env_path=f"acme/shop/hello/{env}",
        workload=workload,
        release_id=release,
        release_seq=int(release[1:]),
        spec_hash=spec_of(release, workload),
        count=count,
        image=image,
        cpu=cpu,
        memory=memory,
        health=TCP,
        release_failed=failed,
        release_converged=converged,
    )


def inst(
    instance_id: str,
    *,
    release: str = "r2",
    workload: str = "web",
    env: str = "e1",
    state: str = "running",
    health: Health = "healthy",
    reason: str | None = None,
    restarts: int = 0,
    exit_code: int | None = None,
    oom: bool = False,
    started: float = 10.0,
    finished: float | None = None,
    memory: int = 64 * MIB,
) -> InstanceView:
    return InstanceView(
        instance_id=instance_id,
        container_id=f"c-{instance_id}",
        env_id=env,
        workload=workload,
        release_id=release,
        spec_hash=spec_of(release, workload),
        state=state,
        health=health,
        health_reason=reason,
        restarts=restarts,
        exit_code=exit_code,
        oom_killed=oom,
        started_at=started,
        finished_at=finished,
        memory=memory,
    )


def starting(instance_id: str, **kw: Any) -> InstanceView:
    return inst(instance_id, health="starting", **kw)


def exited(
    instance_id: str, *, restarts: int = 0, at: float = 99.0, code: int = 1, **kw: Any
) -> InstanceView:
    return inst(
        instance_id,
        state="exited",
        health="none",
        restarts=restarts,
        exit_code=code,
        finished=at,
        **kw,
    )


def old(instance_id: str, started: float = 1.0, **kw: Any) -> InstanceView:
    """An instance of the previous release r1."""
    return inst(instance_id, release="r1", started=started, **kw)


def describe(action: Action) -> tuple[str, ...]:
    """An action as a short comparable tuple, the way the cases spell expectations."""
    match action:
        case Pull(image=image):
            return ("pull", image)
        case Create(desired=d):
            return ("create", d.workload)
        case Start(instance=i):
            return ("start", i.instance_id)
        case Restart(instance=i):
            return ("restart", i.instance_id)
        case Stop(instance=i):
            return ("stop", i.instance_id)
        case Pending(desired=d, missing=missing):
            return ("pending", d.workload, str(missing))
        case MarkRelease(status="failed") as m:
            return ("mark", m.release_id, "failed", str(m.category), str(m.step))
        case MarkRelease() as m:
            return ("mark", m.release_id, m.status)
    raise AssertionError(f"unknown action {action!r}")


def run_plan(
    desired: list[DesiredWorkload],
    observed: list[InstanceView],
    *,
    images: set[str] | None = None,
    status: dict[str, str] | None = None,
    capacity: Capacity = HOST,
    now: float = NOW,
) -> Plan:
    return plan(
        desired,
        observed,
        images_present={IMAGE_V1, IMAGE_V2} if images is None else images,
        release_status=status or {},
        capacity=capacity,
        now=now,
    )
