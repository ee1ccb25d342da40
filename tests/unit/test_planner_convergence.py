"""The planner converges: a tiny simulator feeds a plan's effects back as observations to check
that planning is idempotent (it settles on an empty plan), and hypothesis checks the rollout
promise: planned stops never take healthy instances below what is wanted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_factories import (
    HOST,
    NOW,
    describe,
    exited,
    inst,
    old,
    run_plan,
    want,
)
from test_planner import CASES, CONVERGED, Case  # the same table, fed back as observations

from platd.reconcile.model import (
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
