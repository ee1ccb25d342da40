"""Crashes and platd restarts: a crashed instance is restarted with backoff and recorded, and a
new reconciler (platd started again) carries on where the last one stopped: restart counts
kept, a container created but not started is started rather than duplicated, and healthy
instances are left running.

Driven by hand through ``reconciler_support``: a real SQLite store, the fake runtime, a manual
clock, one pass at a time.
"""

from __future__ import annotations

import pytest

from platd.reconcile.loop import Reconciler
from platd.runtime.base import RuntimeError_
from tests.unit.reconciler_support import (
    IMAGE_V1,
    Host,
    converge,
    first_pass_after_restart,
    host,
    manifest,
    run,
    state_of,
    step,
)

__all__ = ["host"]  # the fixture, imported for the tests below


def test_a_crash_after_convergence_is_restarted_with_backoff_and_recorded(host: Host) -> None:
    release = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, release))
    victim = host.running(release)[0]

    async def body() -> None:
        host.fake.crash(victim.id, exit_code=2)
        assert await step(rec) == pytest.approx(0.5)  # backoff(0), nothing restarted yet
        assert state_of(victim) == "exited"
        host.clock.advance(0.5)
        await step(rec)
        assert state_of(victim) == "running"
        await step(rec)

    run(body)
    (crash,) = host.events(step="crash")
    assert (crash.outcome, crash.category, crash.instance_id) == (
        "failed",
        "runtime",
        victim.spec.instance_id,
    )
    assert crash.message == f"instance {victim.spec.instance_id} exited with code 2"
    assert len(host.events(step="restart", outcome="started")) == 1
    row = next(r for r in host.rows() if r.id == victim.spec.instance_id)
    assert (row.restarts, row.state, row.health) == (1, "running", "healthy")
    assert host.status(release) == "converged"


def test_restart_counts_survive_a_new_reconciler(host: Host) -> None:
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, release))
    (c,) = host.running(release)

    async def crash_and_restart(r: Reconciler) -> float | None:
        host.fake.crash(c.id)
        wake = await step(r)
        host.clock.advance(wake or 0)
        await step(r)
        await step(r)
        return wake

    assert run(lambda: crash_and_restart(rec)) == pytest.approx(0.5)
    (row,) = host.rows()
    assert row.restarts == 1

    # platd restarts: a fresh reconciler must carry on from restart 1, not from 0.
    rec2 = host.reconciler()

    async def body() -> float | None:
        await first_pass_after_restart(rec2)
        return await crash_and_restart(rec2)

    assert run(body) == pytest.approx(1.0)  # backoff(1)
    (row,) = host.rows()
    assert row.restarts == 2
    assert len(host.events(step="recover")) == 1


def test_a_created_container_is_started_after_a_crash_not_duplicated(host: Host) -> None:
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()
    host.fake.fail_next("start", RuntimeError_("platd was killed here"))
    run(lambda: step(rec))
    (c,) = host.containers(release)
    assert state_of(c) == "created"

    rec2 = host.reconciler()

    async def body() -> None:
        await first_pass_after_restart(rec2)
        await converge(host, rec2, release)

    run(body)
    assert host.containers(release) == [c]
    assert state_of(c) == "running"
    assert [call[0] for call in host.fake.calls].count("create") == 1


def test_a_platd_restart_does_not_restart_healthy_instances(host: Host) -> None:
    release = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, release))
    host.clock.advance(120)  # the instances have been up well past their 30s grace
    before = len(host.fake.calls)

    rec2 = host.reconciler()
    run(lambda: first_pass_after_restart(rec2))
    assert [c[0] for c in host.fake.calls[before:] if c[0] in ("stop", "start")] == []
    assert host.events(step="restart") == []

    # It still holds them to their checks, with the grace counted from its own start.
    host.prober.sick = lambda spec: True

    async def body() -> None:
        await step(rec2)
        assert host.events(step="restart") == []
        host.clock.advance(31)
        await step(rec2)

    run(body)
    assert len(host.events(step="restart", outcome="started")) == 2
