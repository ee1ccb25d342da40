"""Known-good means good: readiness after ``min_ready``, degraded releases, a lost image.

Driven like the reconciler's tests (``reconciler_support``): a real SQLite store, the fake
runtime, a manual clock, one pass at a time. The Docker end of the same behaviour is in
``tests/integration/test_truth.py``.
"""

from __future__ import annotations

import pytest

from platd.reconcile.planner import WATCH_WINDOW
from platd.services import releases_read, rollback
from platd.spec.errors import Conflict
from platd.store.models import Env
from tests.unit.reconciler_support import (
    ADMIN,
    IMAGE_V1,
    IMAGE_V2,
    TARGET,
    Host,
    converge,
    host,
    run,
    step,
)

__all__ = ["host"]  # the fixture, imported for the tests below


def plain(count: int = 1, min_ready: str | None = None) -> str:
    """A manifest whose workload has no health check (what a worker or a batch loop has)."""
    extra = f'min_ready = "{min_ready}"\n' if min_ready is not None else ""
    return f"""\
app = "hello"

[env]
required = ["GREETING"]

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = {count}
cpu = 0.25
memory = "64M"
{extra}"""


def healthy(count: int = 1, min_ready: str | None = None) -> str:
    extra = f'min_ready = "{min_ready}"\n' if min_ready is not None else ""
    return plain(count) + extra + "\n[workloads.web.health]\ntcp = 8080\n"


def crash_running(host: Host, release: str, code: int = 3) -> None:
    for c in host.running(release):
        host.fake.crash(c.id, exit_code=code)


def test_without_a_health_check_an_instance_is_ready_only_after_ten_seconds(host: Host) -> None:
    release = host.deploy(plain(), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        await step(rec)  # creates it
        wake = await step(rec)
        assert wake == pytest.approx(10.0)  # the loop looks again when min_ready is over
        host.clock.advance(9.0)
        await step(rec)
        assert host.status(release) == "rolling"
        (row,) = host.rows()
        assert (row.state, row.health) == ("running", "starting")
        assert "min_ready" in (row.reason or "")
        host.clock.advance(1.0)
        await step(rec)

    run(body)
    assert host.status(release) == "converged"


def test_a_process_that_dies_after_three_seconds_fails_instead_of_converging(
    host: Host,
) -> None:
    release = host.deploy(plain(), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        for _ in range(10):
            await step(rec)
            if host.status(release) == "failed":
                return
            assert host.status(release) != "converged"
            host.clock.advance(3.0)
            crash_running(host, release)
            await step(rec)
            host.clock.advance(5.0)  # past any backoff

    run(body)
    state = host.state(release)
    assert state is not None
    assert (state.status, state.step) == ("failed", "start")
    assert "exited with code 3, 3 times in a row" in (state.message or "")
    assert [e.outcome for e in host.events(step="rollout")] == ["started", "failed"]


def test_min_ready_is_per_workload_and_adds_to_a_passing_health_check(host: Host) -> None:
    release = host.deploy(healthy(min_ready="5s"), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        await step(rec)
        await step(rec)  # the probe passes at once
        assert host.status(release) == "rolling"
        (row,) = host.rows()
        assert row.health == "starting"
        assert "health check passes" in (row.reason or "")
        host.clock.advance(5.0)
        await step(rec)

    run(body)
    assert host.status(release) == "converged"


def test_with_a_health_check_and_no_min_ready_the_check_alone_decides(host: Host) -> None:
    release = host.deploy(healthy(), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: step(rec))
    run(lambda: step(rec))
    assert host.status(release) == "converged"


def degrade(host: Host, release: str) -> None:
    """Crash the release's instances after it converged until the watch marks it degraded."""
    rec = host.reconciler()
    run(lambda: converge(host, rec, release))

    async def body() -> None:
        for _ in range(6):
            host.clock.advance(2.0)
            crash_running(host, release)
            await step(rec)
            if host.status(release) == "degraded":
                return
            host.clock.advance(5.0)
            await step(rec)  # restarted after its backoff

    run(body)


def test_a_release_that_crash_loops_after_converging_is_degraded(host: Host) -> None:
    release = host.deploy(plain(min_ready="1s"), {"web": IMAGE_V1})
    degrade(host, release)
    state = host.state(release)
    assert state is not None
    assert state.status == "degraded"
    assert "3 times in a row within 5m of converging" in (state.message or "")
    (watch,) = host.events(step="watch")
    assert (watch.outcome, watch.release_id) == ("failed", release)
    listed = releases_read.list_releases(host.services, ADMIN, TARGET)["releases"]
    assert listed[0]["status"] == "degraded"
    # Still looked after: the next crash is restarted, and the verdict stays.
    rec = host.reconciler()
    run(lambda: step(rec))
    assert host.status(release) == "degraded"


def test_crashes_after_the_watch_window_are_restarts_not_degradation(host: Host) -> None:
    release = host.deploy(plain(min_ready="1s"), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, release))
    host.clock.advance(WATCH_WINDOW + 1)

    async def body() -> None:
        for _ in range(4):
            crash_running(host, release)
            await step(rec)
            host.clock.advance(40.0)
            await step(rec)

    run(body)
    assert host.status(release) == "converged"


def test_a_bare_rollback_skips_degraded_and_failed_releases_and_says_so(host: Host) -> None:
    v1 = host.deploy(plain(min_ready="1s"), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    v2 = host.deploy(plain(count=2, min_ready="1s"), {"web": IMAGE_V2})
    degrade(host, v2)
    assert host.status(v2) == "degraded"
    v3 = host.deploy(plain(count=3, min_ready="1s"), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v3))

    receipt = rollback.rollback(host.services, ADMIN, TARGET, None)
    assert receipt["release"]["id"] == v1
    assert receipt["skipped"] == [{
        "version": "v2", "status": "degraded",
        "why": "degraded: its instances crash-looped after converging",
    }]


def test_rolling_back_to_a_release_that_failed_before_needs_a_yes(host: Host) -> None:
    v1 = host.deploy(plain(min_ready="1s"), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    v2 = host.deploy(plain(count=2, min_ready="1s"), {"web": IMAGE_V2})
    degrade(host, v2)
    v3 = host.deploy(plain(count=3, min_ready="1s"), {"web": IMAGE_V1})

    preview = rollback.rollback(host.services, ADMIN, TARGET, "v2", dry_run=True)
    assert preview["failed_before"]["status"] == "degraded"
    with pytest.raises(Conflict) as refused:
        rollback.rollback(host.services, ADMIN, TARGET, "v2")
    assert "needs a confirmation" in refused.value.message
    assert any("--yes" in hint for hint in refused.value.hint)
    with host.store.read() as session:
        env = session.get(Env, host.env_id)
        assert env is not None
        assert env.current_release_id == v3, "a refusal changes nothing"

    receipt = rollback.rollback(host.services, ADMIN, TARGET, "v2", accept_failed=True)
    assert receipt["release"]["id"] == v2
    assert receipt["failed_before"]["version"] == "v2"


def test_an_image_removed_from_the_host_is_pulled_again(host: Host) -> None:
    v1 = host.deploy(healthy(), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    v2 = host.deploy(healthy(), {"web": IMAGE_V2})
    run(lambda: converge(host, rec, v2))
    host.fake.local_images.discard(IMAGE_V1)  # docker rmi, behind platd's back

    receipt = rollback.rollback(host.services, ADMIN, TARGET, "v1")
    v1_again = receipt["release"]["id"]
    run(lambda: converge(host, rec, v1_again))
    assert len(host.running(v1)) == 1
    pulls = [e.message for e in host.events(step="pull", outcome="started")]
    assert any("no longer on this host" in m for m in pulls)
    assert not host.events(step="create", outcome="failed")
