"""The planner from tables: desired + observed in, the actions still needed out.

Like pyinfra's operation cases, each ``Case`` is a row of values and the actions expected from
them; one parametrized test runs them all. A tiny simulator then feeds a plan's effects back as
observations to check that planning is idempotent (it settles on an empty plan), and hypothesis
checks the rollout promise: planned stops never take healthy instances below what is wanted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from platd.reconcile.planner import BACKOFF_MAX, MAX_START_ATTEMPTS, backoff, plan
from platd.spec.manifest import HealthCheck

MIB = 1024**2
GIB = 1024**3
IMAGE_V1 = "127.0.0.1:5000/hello@sha256:" + "1" * 64
IMAGE_V2 = "127.0.0.1:5000/hello@sha256:" + "2" * 64
TCP = HealthCheck(tcp=8080)
HOST = Capacity(cpus=4.0, memory=8 * GIB)
NOW = 100.0


# --- factories ---------------------------------------------------------------------------------


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


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    desired: list[DesiredWorkload]
    observed: list[InstanceView]
    expected: list[tuple[str, ...]]
    status: dict[str, str] = field(default_factory=dict)
    images: set[str] | None = None  # None: every image is present
    capacity: Capacity = HOST
    now: float = NOW
    wake_in: float | None = None
    idempotent: bool = True  # the simulator settles on an empty plan from here


ROLLING = {"r2": "rolling"}
CONVERGED = {"r2": "converged"}

CASES = [
    # --- deploy and rollout
    Case(
        "fresh deploy creates every instance and marks the release rolling",
        [want(2)],
        [],
        [("create", "web"), ("create", "web"), ("mark", "r2", "rolling")],
    ),
    Case(
        "a missing image is pulled once, even for two workloads",
        [want(1, workload="web"), want(1, workload="worker")],
        [],
        [("pull", IMAGE_V2), ("create", "web"), ("create", "worker"), ("mark", "r2", "rolling")],
        images=set(),
    ),
    Case(
        "a workload scaled to zero needs no image",
        [want(0)],
        [],
        [("mark", "r2", "converged")],
        images=set(),
    ),
    Case(
        "the rolling mark is written once",
        [want(2)],
        [],
        [("create", "web"), ("create", "web")],
        status=ROLLING,
    ),
    Case(
        "while new instances start, every old one keeps running",
        [want(2)],
        [old("a"), old("b"), starting("c"), starting("d")],
        [],
        status=ROLLING,
    ),
    Case(
        "one new instance healthy: the oldest old instance stops",
        [want(2)],
        [old("b", started=2.0), old("a", started=1.0), inst("c"), starting("d")],
        [("stop", "a")],
        status=ROLLING,
    ),
    Case(
        "every new instance healthy: old ones stop and the release converges",
        [want(2)],
        [old("a"), old("b"), inst("c"), inst("d")],
        [("stop", "a"), ("stop", "b"), ("mark", "r2", "converged")],
        status=ROLLING,
    ),
    Case(
        "a crashed old instance is restarted while the new ones are not all healthy",
        [want(2)],
        [old("a"), exited("b", release="r1", at=NOW - 1.0), inst("c"), starting("d")],
        [("restart", "b")],
        status=ROLLING,
    ),
    Case(
        "a crashed old instance waits for its backoff like any other",
        [want(2)],
        [old("a"), exited("b", release="r1", restarts=1, at=NOW), starting("c"), starting("d")],
        [],
        status=ROLLING,
        wake_in=1.0,
    ),
    Case(
        "old instances that are not healthy stop once the new ones are all healthy",
        [want(2)],
        [old("a"), exited("b", release="r1"), inst("c"), inst("d")],
        [("stop", "a"), ("stop", "b"), ("mark", "r2", "converged")],
        status=ROLLING,
    ),
    # --- failures before convergence
    Case(
        "the third exit in a row of a new instance fails the release (runtime, start)",
        [want(2)],
        [old("a"), old("b"), exited("c", restarts=MAX_START_ATTEMPTS - 1), starting("d")],
        [("mark", "r2", "failed", "runtime", "start")],
        status=ROLLING,
    ),
    Case(
        "the second exit of a new instance is restarted once its backoff passed",
        [want(2)],
        [old("a"), old("b"), exited("c", restarts=1, at=NOW - 1.0), starting("d")],
        [("restart", "c")],
        status=ROLLING,
    ),
    Case(
        "a new instance reported unhealthy fails the release (health)",
        [want(2)],
        [old("a"), old("b"), inst("c", health="unhealthy", reason="connection refused"), inst("d")],
        [("mark", "r2", "failed", "health", "health")],
        status=ROLLING,
    ),
    Case(
        "a failed release's instances stop; the old ones are kept and restarted",
        [want(2, failed=True)],
        [old("a"), exited("b", release="r1", at=NOW - 1.0), inst("c"), exited("d")],
        [("stop", "c"), ("stop", "d"), ("restart", "b")],
        status={"r2": "failed"},
    ),
    Case(
        "a failed release's old instances restart with backoff",
        [want(2, failed=True)],
        [old("a"), exited("b", release="r1", restarts=2, at=NOW - 1.0)],
        [],
        status={"r2": "failed"},
        wake_in=1.0,
    ),
    # --- after convergence
    Case(
        "a crash after convergence is restarted once its backoff passed",
        [want(2, converged=True)],
        [inst("c"), exited("d", at=NOW - 0.5)],
        [("restart", "d")],
        status=CONVERGED,
    ),
    Case(
        "a crash after convergence waits for 0.5s * 2^restarts",
        [want(2, converged=True)],
        [inst("c"), exited("d", restarts=3, at=NOW - 1.0)],
        [],
        status=CONVERGED,
        wake_in=0.5 * 2**3 - 1.0,
    ),
    Case(
        "the backoff is capped at 30s",
        [want(2, converged=True)],
        [inst("c"), exited("d", restarts=12, at=NOW - 1.0)],
        [],
        status=CONVERGED,
        wake_in=BACKOFF_MAX - 1.0,
    ),
    Case(
        "many crashes after convergence never fail the release",
        [want(1, converged=True)],
        [exited("c", restarts=9, at=NOW - 60)],
        [("restart", "c")],
        status=CONVERGED,
    ),
    Case(
        "an unhealthy instance after convergence is restarted",
        [want(2, converged=True)],
        [inst("c"), inst("d", health="unhealthy", reason="timeout")],
        [("restart", "d")],
        status=CONVERGED,
    ),
    Case(
        "a converged env with nothing to do plans nothing",
        [want(2, converged=True)],
        [inst("c"), inst("d")],
        [],
        status=CONVERGED,
    ),
    # --- scale and removal
    Case(
        "scale down stops the least healthy first, then the newest",
        [want(2, converged=True)],
        [
            inst("a", started=1.0),
            inst("b", started=5.0),
            starting("c", started=8.0),
            inst("d", started=3.0),
        ],
        [("stop", "c"), ("stop", "b")],
        status=CONVERGED,
    ),
    Case(
        "scale up creates the difference",
        [want(3, converged=True)],
        [inst("c"), inst("d")],
        [("create", "web")],
        status=CONVERGED,
    ),
    Case(
        "instances of an env that is no longer deployed are stopped",
        [],
        [inst("x", env="gone"), exited("y", env="gone")],
        [("stop", "x"), ("stop", "y")],
    ),
    Case(
        "instances of a workload removed from the release are stopped",
        [want(1, converged=True)],
        [inst("c"), inst("w", workload="worker")],
        [("stop", "w")],
        status=CONVERGED,
    ),
    # --- scheduling
    Case(
        "an instance larger than the host's memory fails the release (scheduling)",
        [want(1, memory=16 * GIB)],
        [],
        [("mark", "r2", "failed", "scheduling", "schedule")],
    ),
    Case(
        "an instance wanting more cpus than the host has fails the release (scheduling)",
        [want(1, cpu=8.0)],
        [old("a")],
        [("mark", "r2", "failed", "scheduling", "schedule")],
    ),
    Case(
        "instances that do not fit in free memory now are pending",
        [want(3, memory=128 * MIB)],
        [],
        [("create", "web"), ("create", "web"), ("pending", "web", "1"), ("mark", "r2", "rolling")],
        capacity=Capacity(cpus=4.0, memory=320 * MIB),
        idempotent=False,
    ),
    Case(
        "memory held by running instances of other envs counts",
        [want(1, memory=128 * MIB)],
        [inst("x", env="e2", memory=200 * MIB, release="r7")],
        [("stop", "x"), ("pending", "web", "1"), ("mark", "r2", "rolling")],
        capacity=Capacity(cpus=4.0, memory=256 * MIB),
    ),
    # --- crash recovery and release marks
    Case(
        "a created container of the current spec is started, not duplicated",
        [want(2)],
        [inst("c"), inst("d", state="created", health="none")],
        [("start", "d")],
        status=ROLLING,
    ),
    Case(
        "a release converges once every workload converged",
        [want(1, workload="web"), want(1, workload="worker")],
        [inst("c"), inst("w", workload="worker")],
        [("mark", "r2", "converged")],
        status=ROLLING,
    ),
    Case(
        "a release waits for its slowest workload",
        [want(1, workload="web"), want(1, workload="worker")],
        [inst("c"), starting("w", workload="worker")],
        [],
        status=ROLLING,
    ),
    Case(
        "two envs are planned independently",
        [want(1, env="e1"), want(1, env="e2", release="r5")],
        [inst("c", env="e1"), exited("x", env="e2", release="r5", restarts=2)],
        [("mark", "r2", "converged"), ("mark", "r5", "failed", "runtime", "start")],
        status={"r2": "rolling", "r5": "rolling"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_cases(case: Case) -> None:
    result = run_plan(
        case.desired,
        case.observed,
        images=case.images,
        status=case.status,
        capacity=case.capacity,
        now=case.now,
    )
    got = Counter(describe(a) for a in result.actions)
    assert got == Counter(case.expected), sorted(got)
    if case.wake_in is None:
        assert result.wake_in is None
    else:
        assert result.wake_in == pytest.approx(case.wake_in)


# --- idempotence: feed a plan's effects back as observations -----------------------------------


@dataclass
class World:
    """Applies actions the way the executor and a well-behaved engine would, instantly."""

    desired: list[DesiredWorkload]
    observed: list[InstanceView]
    images: set[str] | None
    status: dict[str, str]
    capacity: Capacity
    now: float
    made: int = 0
    marks: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, case: Case) -> World:
        return cls(
            list(case.desired),
            list(case.observed),
            None if case.images is None else set(case.images),
            dict(case.status),
            case.capacity,
            case.now,
        )

    def plan(self) -> Plan:
        return run_plan(
            self.desired,
            self.observed,
            images=self.images,
            status=self.status,
            capacity=self.capacity,
            now=self.now,
        )

    def healthy(self) -> Counter[tuple[str, str]]:
        return Counter(
            i.key for i in self.observed if i.state == "running" and i.health == "healthy"
        )

    def apply(self, result: Plan) -> None:
        for action in result.actions:
            match action:
                case Pull(image=image):
                    assert self.images is not None
                    self.images.add(image)
                case Create(desired=d):
                    self.made += 1
                    self.observed.append(
                        inst(
                            f"new{self.made}",
                            release=d.release_id,
                            workload=d.workload,
                            env=d.env_id,
                            health="starting",
                            started=self.now,
                            memory=d.memory,
                        )
                    )
                case Start(instance=i) | Restart(instance=i):
                    restarts = i.restarts + isinstance(action, Restart)
                    self._replace(
                        i,
                        replace(
                            i,
                            state="running",
                            health="starting",
                            restarts=restarts,
                            started_at=self.now,
                            exit_code=None,
                            finished_at=None,
                        ),
                    )
                case Stop(instance=i):
                    self.observed = [o for o in self.observed if o.instance_id != i.instance_id]
                case MarkRelease(release_id=release_id, status=status):
                    self.marks.append((release_id, status))
                    self.status[release_id] = status
                    self.desired = [
                        replace(
                            d,
                            release_failed=status == "failed",
                            release_converged=status == "converged",
                        )
                        if d.release_id == release_id
                        else d
                        for d in self.desired
                    ]
                case Pending():
                    pass

    def tick(self, seconds: float) -> None:
        """Time passes: instances that were starting pass their health check."""
        self.now += seconds
        self.observed = [
            replace(i, health="healthy") if i.health == "starting" else i for i in self.observed
        ]

    def change(self, instance_id: str, **changes: Any) -> None:
        (found,) = [i for i in self.observed if i.instance_id == instance_id]
        self._replace(found, replace(found, **changes))

    def crash(self, instance_id: str) -> None:
        self.change(instance_id, state="exited", health="none", exit_code=1, finished_at=self.now)

    def _replace(self, old: InstanceView, new: InstanceView) -> None:
        self.observed = [new if o.instance_id == old.instance_id else o for o in self.observed]

    def settle(self, max_passes: int = 30) -> int:
        """Plan and apply until a plan is empty; returns the passes it took."""
        for n in range(max_passes):
            result = self.plan()
            if not result.actions:
                if result.wake_in is not None:
                    self.tick(result.wake_in)
                elif any(i.health == "starting" for i in self.observed):
                    self.tick(1.0)
                else:
                    return n
                continue
            before, keep = self.healthy(), [d for d in self.desired if not d.release_failed]
            self.apply(result)
            after = self.healthy()
            for d in keep:
                assert after[d.key] >= min(d.count, before[d.key]), f"{d.key} lost healthy"
            self.tick(1.0)
        raise AssertionError(f"no empty plan after {max_passes} passes: {self.plan()}")


IDEMPOTENT = [c for c in CASES if c.idempotent]


@pytest.mark.parametrize("case", IDEMPOTENT, ids=[c.name for c in IDEMPOTENT])
def test_plan_effects_settle_on_an_empty_plan(case: Case) -> None:
    world = World.of(case)
    world.settle()
    assert world.plan() == Plan(())  # and stays empty

    for d in world.desired:
        if d.release_failed:
            assert not [i for i in world.observed if i.spec_hash == d.spec_hash]
            continue
        mine = [i for i in world.observed if i.spec_hash == d.spec_hash]
        assert len(mine) == d.count
        assert all(i.state == "running" and i.health == "healthy" for i in mine)
        assert not [i for i in world.observed if i.key == d.key and i.spec_hash != d.spec_hash]
        assert world.status[d.release_id] == "converged"
    wanted = {d.key for d in world.desired}
    assert all(i.key in wanted for i in world.observed)
    for release_id in {d.release_id for d in world.desired}:
        marks = Counter(status for r, status in world.marks if r == release_id)
        assert all(n == 1 for n in marks.values()), marks


def test_a_failed_rollout_leaves_the_old_release_running() -> None:
    """Old instances that crash mid-rollout are restarted, so a failed rollout has them to keep."""
    world = World([want(2)], [old("a", started=1.0), old("b", started=2.0)], None, {}, HOST, NOW)
    world.apply(world.plan())  # two new instances start
    first, second = (i.instance_id for i in world.observed if i.release_id == "r2")
    world.change(first, health="healthy")
    world.apply(world.plan())  # so the oldest old instance stops
    assert sorted(i.instance_id for i in world.observed if i.release_id == "r1") == ["b"]

    world.crash("b")  # the last old instance crashes...
    world.crash(second)  # ...while the second new one crash-loops
    for _ in range(20):
        if second in {i.instance_id for i in world.observed if i.state == "running"}:
            world.crash(second)
        result = world.plan()
        if not result.actions and result.wake_in is None:
            break
        world.apply(result)
        world.now += 30.0
    assert world.status["r2"] == "failed"
    (kept,) = world.observed
    assert (kept.instance_id, kept.state, kept.restarts) == ("b", "running", 1)


def test_a_whole_rollout_marks_rolling_then_converged_once() -> None:
    world = World([want(3, release="r1")], [], set(), {}, HOST, NOW)
    world.settle()
    world.desired = [want(3)]
    world.settle()
    assert world.marks == [
        ("r1", "rolling"),
        ("r1", "converged"),
        ("r2", "rolling"),
        ("r2", "converged"),
    ]
    assert sorted(i.release_id for i in world.observed) == ["r2", "r2", "r2"]


def test_a_crash_loop_after_convergence_backs_off_exponentially() -> None:
    world = World([want(1, converged=True)], [inst("c")], None, dict(CONVERGED), HOST, NOW)
    waits = []
    for restarts in range(8):
        world.observed = [exited("c", restarts=restarts, at=world.now)]
        result = world.plan()
        assert result.actions == ()
        waits.append(result.wake_in)
        world.now += result.wake_in or 0
        assert [describe(a) for a in world.plan().actions] == [("restart", "c")]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


# --- focused: the words ------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_up_to_thirty() -> None:
    assert [backoff(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(1000) == BACKOFF_MAX


def test_too_large_says_what_it_needs_and_what_the_host_has() -> None:
    (mark,) = run_plan([want(1, cpu=0.5, memory=16 * GIB)], []).actions
    assert isinstance(mark, MarkRelease)
    assert mark.message == (
        "web needs 0.5 cpu and 16G per instance; this host has 4 cpu and 8G in total"
    )


def test_pending_names_the_need_and_what_is_free() -> None:
    result = run_plan(
        [want(3, memory=128 * MIB)],
        [inst("x", env="e2", memory=128 * MIB)],
        capacity=Capacity(cpus=4.0, memory=320 * MIB),
    )
    (pending,) = [a for a in result.actions if isinstance(a, Pending)]
    assert pending.missing == 2
    assert pending.reason == ("2 instance(s) wait for memory: each needs 128M, 64M of 320M is free")


def test_runtime_failure_names_the_instance_exit_code_and_oom() -> None:
    crashed = exited("c", restarts=2, code=137, oom=True)
    (mark,) = run_plan([want(1)], [crashed], status=ROLLING).actions
    assert isinstance(mark, MarkRelease)
    assert mark.instance == crashed
    assert mark.message == (
        "instance c of web exited with code 137 (killed: out of memory), 3 times in a row"
    )


def test_health_failure_carries_the_probe_reason() -> None:
    sick = inst("c", health="unhealthy", reason="GET /healthz answered 'HTTP/1.0 500'")
    (mark,) = run_plan([want(1)], [sick], status=ROLLING).actions
    assert isinstance(mark, MarkRelease)
    assert mark.message == (
        "instance c of web failed its health check: GET /healthz answered 'HTTP/1.0 500'"
    )


def test_each_stop_says_why() -> None:
    result = run_plan([want(1)], [old("a"), inst("c"), inst("x", env="gone")], status=ROLLING)
    reasons = {a.instance.instance_id: a.reason for a in result.actions if isinstance(a, Stop)}
    assert reasons == {
        "a": "replaced by release v2",
        "x": "its workload or env is no longer deployed",
    }


# --- property: a rollout never drops below the healthy instances it can keep -------------------

KINDS = ("healthy", "starting", "unhealthy", "exited", "created")


@st.composite
def instances(draw: st.DrawFn, release: str, prefix: str) -> list[InstanceView]:
    out = []
    for n, kind in enumerate(draw(st.lists(st.sampled_from(KINDS), max_size=6))):
        started = float(draw(st.integers(0, 90)))
        iid = f"{prefix}{n}"
        if kind == "exited":
            restarts = draw(st.integers(0, 4))
            out.append(
                exited(
                    iid,
                    release=release,
                    restarts=restarts,
                    started=started,
                    at=draw(st.sampled_from([50.0, 99.9])),
                )
            )
        elif kind == "created":
            out.append(inst(iid, release=release, state="created", health="none", started=started))
        else:
            out.append(inst(iid, release=release, health=cast(Health, kind), started=started))
    return out


@settings(max_examples=300, database=None, deadline=None)
@given(
    old_instances=instances("r1", "o"),
    new_instances=instances("r2", "n"),
    count=st.integers(0, 6),
    converged=st.booleans(),
    status=st.sampled_from([None, "rolling", "converged"]),
)
def test_planned_stops_keep_the_healthy_instances_wanted(
    old_instances: list[InstanceView],
    new_instances: list[InstanceView],
    count: int,
    converged: bool,
    status: str | None,
) -> None:
    observed = old_instances + new_instances
    result = run_plan(
        [want(count, converged=converged)], observed, status={"r2": status} if status else {}
    )
    stopped = {a.instance.instance_id for a in result.actions if isinstance(a, Stop)}
    healthy = {i.instance_id for i in observed if i.state == "running" and i.health == "healthy"}
    assert len(healthy - stopped) >= min(count, len(healthy))
