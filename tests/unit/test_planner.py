"""The planner from tables: desired + observed in, the actions still needed out.

Like pyinfra's operation cases, each ``Case`` is a row of values and the actions expected from
them; one parametrized test runs them all; then the words actions carry. Convergence
(idempotence over this table, the rollout promise) is in test_planner_convergence.py; the
builders in planner_factories.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from planner_factories import (
    GIB,
    HOST,
    IMAGE_V2,
    MIB,
    NOW,
    describe,
    exited,
    inst,
    old,
    run_plan,
    starting,
    want,
)

from platd.reconcile.model import (
    Capacity,
    DesiredWorkload,
    InstanceView,
    MarkRelease,
    Pending,
    Stop,
)
from platd.reconcile.planner import BACKOFF_MAX, MAX_START_ATTEMPTS, backoff

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


def test_a_crash_loop_within_the_watch_window_degrades_a_converged_release() -> None:
    from dataclasses import replace

    from platd.reconcile.planner import WATCH_WINDOW

    looping = exited("c", restarts=MAX_START_ATTEMPTS - 1, code=3)
    converged = replace(want(1, converged=True), converged_at=NOW - 60)
    marks = [a for a in run_plan([converged], [looping], status=CONVERGED).actions
             if isinstance(a, MarkRelease)]
    assert [(m.status, m.step, m.instance) for m in marks] == [("degraded", "watch", looping)]
    assert "3 times in a row within 5m of converging" in (marks[0].message or "")

    # Once degraded it stays so (no new verdict); past the window a crash loop is restarts only.
    degraded = replace(converged, release_degraded=True)
    assert not [a for a in run_plan([degraded], [looping], status={"r2": "degraded"}).actions
                if isinstance(a, MarkRelease)]
    late = replace(converged, converged_at=NOW - WATCH_WINDOW - 1)
    assert not [a for a in run_plan([late], [looping], status=CONVERGED).actions
                if isinstance(a, MarkRelease)]
    # One crash is a restart, not a loop.
    once = exited("c", restarts=0, code=3)
    assert not [a for a in run_plan([converged], [once], status=CONVERGED).actions
                if isinstance(a, MarkRelease)]
