"""A rollout, pass by pass: a deploy converges with its config and secret files, a second one
never drops below the desired healthy count, and a release whose instances crash-loop, fail
their health check, never start or cannot be pulled fails while the old release keeps running.

Driven by hand through ``reconciler_support``: a real SQLite store, the fake runtime, a manual
clock, one pass at a time; no sleeps, no timing assertions.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from platd.runtime.base import RuntimeError_
from tests.unit.reconciler_support import (
    GIB,
    IMAGE_V1,
    IMAGE_V2,
    Host,
    converge,
    healthy_serving,
    host,
    manifest,
    run,
    step,
)

__all__ = ["host"]  # the fixture, imported for the tests below


def test_a_deploy_converges_with_config_and_secret_files(host: Host) -> None:
    release = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        await step(rec)
        assert host.status(release) == "rolling"
        assert len(host.running(release)) == 2
        await converge(host, rec, release)

    run(body)
    assert host.fake.local_images == {IMAGE_V1}
    assert [c[0] for c in host.fake.calls].count("pull") == 1
    rollout = [(e.outcome, e.message) for e in host.events(step="rollout")]
    assert rollout == [
        ("started", "rollout started"),
        ("ok", "rollout converged: every instance is running and healthy"),
    ]
    assert len(host.events(step="create", outcome="ok")) == 2
    assert sorted((r.state, r.health) for r in host.rows()) == [("running", "healthy")] * 2

    for c in host.containers(release):
        instance = c.spec.instance_id
        assert c.spec.env["GREETING"] == "hello"
        assert c.spec.env["PLAT_INSTANCE"] == instance
        assert c.spec.env["PLAT_RELEASE"] == "v1"
        secret = Path(c.spec.files["/run/secrets/db"])
        assert secret == host.secrets_root / instance / "db"
        assert secret.read_text() == "API_KEY=k1\nDATABASE_URL=postgres://app:pw@db/app\n"
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o444


def test_a_second_deploy_never_drops_below_the_desired_healthy_count(host: Host) -> None:
    v1 = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    old_ids = [c.spec.instance_id for c in host.containers(v1)]

    v2 = host.deploy(manifest(2), {"web": IMAGE_V2})
    ready: set[str] = set()  # v2 instances allowed to pass their probe, one at a time
    host.prober.sick = lambda spec: spec.release_id == v2 and spec.instance_id not in ready
    seen = []

    async def body() -> None:
        for _ in range(12):
            await step(rec)
            seen.append((len(host.running(v1)), len(host.running(v2))))
            assert healthy_serving(host, rec) >= 2, "a pass left fewer healthy than desired"
            if host.status(v2) == "converged":
                return
            waiting = [
                c.spec.instance_id for c in host.running(v2) if c.spec.instance_id not in ready
            ]
            if waiting:
                ready.add(waiting[0])
        raise AssertionError("v2 did not converge")

    run(body)
    assert host.containers(v1) == []
    assert len(host.running(v2)) == 2
    # (old running, new running) after each pass: one old stops per new healthy instance.
    assert seen == [(2, 2), (1, 2), (0, 2)]
    stops = [e.instance_id or "" for e in host.events(step="stop", outcome="ok")]
    assert sorted(stops) == sorted(old_ids)
    for instance in old_ids:  # secret files go with their instance
        assert not (host.secrets_root / instance).exists()
    for c in host.running(v2):
        assert (host.secrets_root / c.spec.instance_id / "db").exists()


def test_a_crash_looping_release_fails_and_the_old_instances_keep_running(host: Host) -> None:
    v1 = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    old = host.running(v1)

    v2 = host.deploy(manifest(2), {"web": IMAGE_V2})

    async def body() -> None:
        for _ in range(10):
            await step(rec)
            assert len(host.running(v1)) == 2
            if host.status(v2) == "failed":
                break
            for c in host.running(v2):
                c.logs.append("panic: cannot open config")
                host.fake.crash(c.id, exit_code=1)
            host.clock.advance(30)
        await step(rec)  # the failed release's instances are stopped
        # The old release is still looked after: a crash is restarted with backoff.
        host.fake.crash(old[0].id, exit_code=137)
        assert await step(rec) == pytest.approx(0.5)
        host.clock.advance(0.5)
        await step(rec)

    run(body)
    state = host.state(v2)
    assert state is not None
    assert (state.status, state.category, state.step) == ("failed", "runtime", "start")
    assert "exited with code 1, 3 times in a row" in (state.message or "")
    assert "panic: cannot open config" in (state.message or "")
    assert host.containers(v2) == []
    assert [c.state for c in old] == ["running", "running"]
    assert host.status(v1) == "converged"
    assert [e.outcome for e in host.events(step="rollout", release_id=v2)] == ["started", "failed"]


def test_a_failing_health_check_fails_the_release(host: Host) -> None:
    v1 = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))

    v2 = host.deploy(manifest(2), {"web": IMAGE_V2})
    host.prober.sick = lambda spec: spec.release_id == v2

    async def body() -> None:
        await step(rec)
        await step(rec)
        assert host.status(v2) == "rolling"
        host.clock.advance(31)  # past the 30s grace
        await step(rec)
        await step(rec)

    run(body)
    state = host.state(v2)
    assert state is not None
    assert (state.status, state.category, state.step) == ("failed", "health", "health")
    assert "not healthy within 30s of starting" in (state.message or "")
    assert "Connection refused" in (state.message or "")
    assert host.containers(v2) == []
    assert len(host.running(v1)) == 2


def test_a_container_that_never_starts_fails_the_release(host: Host) -> None:
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        for _ in range(8):
            host.fake.fail_next("start", RuntimeError_('exec: "httpd": not found'))
            await step(rec)
            if host.status(release) == "failed":
                return
            host.clock.advance(60)

    run(body)
    state = host.state(release)
    assert state is not None
    assert (state.status, state.category, state.step) == ("failed", "runtime", "start")


def test_a_failed_pull_fails_the_release_once(host: Host) -> None:
    missing = "127.0.0.1:5000/hello@sha256:" + "9" * 64
    release = host.deploy(manifest(1), {"web": missing})
    rec = host.reconciler()
    run(lambda: step(rec))
    state = host.state(release)
    assert state is not None
    assert (state.status, state.category, state.step) == ("failed", "image", "pull")
    run(lambda: step(rec))
    assert [c[0] for c in host.fake.calls].count("pull") == 1
    assert [e.outcome for e in host.events(step="rollout")] == ["failed"]


def test_memory_of_kept_old_instances_counts_toward_capacity(host: Host) -> None:
    v1 = host.deploy(manifest(2, memory="1G"), {"web": IMAGE_V1})
    rec = host.reconciler()
    run(lambda: converge(host, rec, v1))
    host.deploy(manifest(2, memory="1G"), {"web": IMAGE_V2})

    async def body() -> list[int]:
        await step(rec)
        observed = await host.fake.list_instances(host.store.host_id)
        return [rec._view(o, host.clock.time()).memory for o in observed if o.release_id == v1]

    assert run(body) == [GIB, GIB]
