"""The control loop against a real SQLite store and the fake runtime, one pass at a time.

Each test builds a host like ``platd init`` does, deploys through the same services the API
calls, and drives ``Reconciler.pass_once`` by hand with a clock it controls and a prober that
answers as the test says, so every step is deterministic: no sleeps, no timing assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import select

from platd.auth.tokens import Principal
from platd.clock import ManualClock
from platd.datadir import DataDir
from platd.reconcile import observed
from platd.reconcile.health import ProbeResult
from platd.reconcile.ledger import HealthState
from platd.reconcile.loop import Reconciler
from platd.runtime.base import HostCapacity, InstanceSpec, RuntimeError_, RuntimeEvent
from platd.runtime.fake import FakeContainer, FakeRuntime
from platd.secrets.crypto import SecretBox, create_key_file
from platd.services import config, releases, tenancy
from platd.services.context import ServiceContext
from platd.spec.manifest import DEFAULT_MIN_READY, HealthCheck
from platd.store import eventlog
from platd.store.db import Store, migrate
from platd.store.models import Event, Instance, ReleaseState
from tests.daemon_support import service_context

ADMIN = Principal(token_id="t", name="admin", org_id=None, org_name=None, role="owner")
TARGET = "acme/shop/hello/prod"
IMAGE_V1 = "127.0.0.1:5000/hello@sha256:" + "1" * 64
IMAGE_V2 = "127.0.0.1:5000/hello@sha256:" + "2" * 64
GIB = 1024**3

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await body()

    return asyncio.run(main())


def manifest(count: int = 2, *, memory: str = "64M") -> str:
    return f"""\
app = "hello"

[env]
required = ["GREETING"]

[secrets]
bundles = ["db"]

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = {count}
cpu = 0.25
memory = "{memory}"

[workloads.web.health]
tcp = 8080
"""


class Prober:
    """Answers probes for the fake's containers: healthy unless ``sick`` says otherwise."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.sick: Callable[[InstanceSpec], bool] = lambda spec: False
        # Probes of these never answer (until cancelled), as at an address nobody holds.
        self.hangs: Callable[[InstanceSpec], bool] = lambda spec: False

    async def __call__(self, check: HealthCheck, host: str, port: int) -> ProbeResult:
        (container,) = [c for c in self.runtime.containers.values() if c.ip == host]
        if self.hangs(container.spec):
            await asyncio.Event().wait()
        if self.sick(container.spec):
            return ProbeResult(False, f"port {port}: Connection refused")
        return ProbeResult(True, f"tcp port {port} accepts connections")


@dataclass
class Host:
    """One initialised host with an env ready to deploy to."""

    path: Path
    store: Store
    box: SecretBox
    clock: ManualClock
    fake: FakeRuntime
    prober: Prober
    env_id: str
    services: ServiceContext

    @property
    def secrets_root(self) -> Path:
        return self.path / "secrets"

    def reconciler(self) -> Reconciler:
        return Reconciler(
            self.store, self.fake, self.box, self.secrets_root, clock=self.clock, prober=self.prober
        )

    def deploy(self, text: str, images: dict[str, str]) -> str:
        plan = releases.prepare_deploy(self.services, ADMIN, TARGET, text, {})
        receipt = releases.commit_deploy(self.services, ADMIN, plan, images, "test")
        release_id: str = receipt["release"]["id"]
        return release_id

    def state(self, release_id: str) -> ReleaseState | None:
        with self.store.read() as session:
            return session.get(ReleaseState, f"{release_id}:{self.store.host_id}")

    def status(self, release_id: str) -> str | None:
        state = self.state(release_id)
        return state.status if state else None

    def events(self, **match: Any) -> list[Event]:
        with self.store.read() as session:
            rows = eventlog.query(session, self.env_id, limit=100_000)
        return [e for e in rows if all(getattr(e, k) == v for k, v in match.items())]

    def rows(self) -> list[Instance]:
        with self.store.read() as session:
            return list(session.exec(select(Instance).where(Instance.deleted == False)))  # noqa: E712

    def containers(self, release_id: str | None = None) -> list[FakeContainer]:
        return [
            c
            for c in self.fake.containers.values()
            if release_id is None or c.spec.release_id == release_id
        ]

    def running(self, release_id: str | None = None) -> list[FakeContainer]:
        return [c for c in self.containers(release_id) if c.state == "running"]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    data = DataDir(tmp_path / "data")
    info = data.create("test")
    migrate(data.state_db)
    create_key_file(data.key_file)
    store = Store(data.state_db, info["id"])
    clock = ManualClock()
    fake = FakeRuntime([IMAGE_V1, IMAGE_V2], clock=clock)
    box = SecretBox.from_file(data.key_file)
    services = service_context(store, clock=clock, box=box, runtime=fake)
    env = None
    for kind, depth in (("org", 1), ("project", 2), ("app", 3), ("env", 4)):
        env = tenancy.create(services, ADMIN, kind, "/".join(TARGET.split("/")[:depth]))
    assert env is not None
    config.change_config(services, ADMIN, TARGET, {"GREETING": "hello"}, [])
    config.write_bundle(
        services,
        ADMIN,
        TARGET,
        "db",
        {"DATABASE_URL": "postgres://app:pw@db/app", "API_KEY": "k1"},
        create=True,
    )
    h = Host(tmp_path, store, box, clock, fake, Prober(fake), env["id"], services)
    try:
        yield h
    finally:
        store.close()


def state_of(container: FakeContainer) -> str:
    """Read afresh: the loop changes a container's state behind the test's back."""
    return container.state


# --- driving the loop ----------------------------------------------------------------------------


async def probe(rec: Reconciler) -> None:
    """One round of the health prober, against what the runtime shows now."""
    for o in await rec.runtime.list_instances(rec.store.host_id):
        desired = rec._desired.get(o.spec_hash)
        if o.state != "running" or desired is None or desired.health is None:
            continue
        if o.container_id in rec.ledger.stopping:
            continue
        state = rec.ledger.health.setdefault(o.container_id, HealthState())
        await rec._probe_one(o, desired, state)


async def step(rec: Reconciler) -> float | None:
    """Probe, pass, and let the stops the pass started finish."""
    await probe(rec)
    wake = await rec.pass_once()
    await rec.executor.drain()
    return wake


def healthy_serving(host: Host, rec: Reconciler) -> int:
    """Running containers the loop last saw pass their health check."""
    return sum(
        1
        for c in host.running()
        if (state := rec.ledger.health.get(c.id)) is not None and state.status == "healthy"
    )


async def converge(host: Host, rec: Reconciler, release_id: str, passes: int = 10) -> None:
    for _ in range(passes):
        await step(rec)
        if host.status(release_id) == "converged":
            return
        host.clock.advance(DEFAULT_MIN_READY)
    raise AssertionError(f"release did not converge: {host.state(release_id)}")


async def first_pass_after_restart(rec: Reconciler) -> None:
    """What ``Reconciler.run`` does when platd starts: reload restart counts, then recover.

    Driven by hand rather than by cancelling ``run()``: on Python 3.11 the ``wait_for`` in
    ``_pass_loop`` can swallow a cancellation that races a wake-up (fixed in 3.12), and the
    test would hang.
    """
    rec.ledger.restarts.update(await asyncio.to_thread(observed.load_restarts, rec.store))
    await rec.pass_once(recovering=True)
    await rec.executor.drain()


# --- tests ---------------------------------------------------------------------------------------


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


def test_an_idle_pass_over_a_thousand_workloads(tmp_path: Path, host: Host) -> None:
    names = [f"w{n:04d}" for n in range(1000)]
    # The env has GREETING set (the fixture): declared, or the gate refuses mystery config.
    text = 'app = "hello"\n[env]\noptional = ["GREETING"]\n' + "".join(
        f'\n[workloads.{name}]\nimage = "127.0.0.1:5000/hello:v1"\ncount = 1\n'
        f'cpu = 0.01\nmemory = "8M"\n'
        for name in names
    )
    host.fake.host_capacity = HostCapacity(cpus=64.0, memory=64 * GIB)
    release = host.deploy(text, dict.fromkeys(names, IMAGE_V1))
    rec = host.reconciler()

    async def body() -> None:
        await step(rec)
        host.clock.advance(DEFAULT_MIN_READY)
        await step(rec)
        assert host.status(release) == "converged"
        before = len(host.fake.calls)
        await rec.pass_once()  # the idle pass
        assert host.fake.calls[before:] == [("list_instances", host.store.host_id)]

    run(body)
    assert len(host.running(release)) == 1000


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


# --- known bugs outside the planner: each reason names the file and the fault ------------------


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


def test_a_started_container_is_probed_before_a_pass_lists_it(host: Host) -> None:
    """The rollout's wait for health starts when the container starts, not one pass and one
    prober round later: the pass that creates an instance is followed by the one that marks
    the release converged."""
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        prober = asyncio.create_task(rec._probe_loop())
        try:
            await asyncio.sleep(0)  # the prober starts
            await rec.pass_once()  # pulls, creates and starts the instance
            (container,) = host.running(release)
            for _ in range(200):  # bounded: the inspection and the probe run on the loop
                state = rec.ledger.health.get(container.id)
                if state is not None and state.status == "healthy":
                    break
                await asyncio.sleep(0.01)
            assert rec.passes == 1
            assert rec.ledger.health[container.id].status == "healthy"
            await rec.pass_once()
            assert host.status(release) == "converged"
        finally:
            prober.cancel()

    run(body)
    # Inspected while its "running" event is written, probed only after: the history keeps
    # its order.
    steps = [(e.step, e.outcome) for e in host.events(release_id=release)
             if (e.step, e.outcome) in (("create", "ok"), ("health", "ok"))]
    assert steps == [("create", "ok"), ("health", "ok")]


def test_a_probe_that_hangs_does_not_hold_up_the_probes_of_other_instances(host: Host) -> None:
    """Each instance is probed on its own: a probe waiting out its timeout (an address nobody
    answers at any more, an app that hangs) must not keep a new instance from turning healthy,
    or a rollout waits for it."""
    release = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    stuck: list[str] = []  # the instance probed first: its probes never answer

    def hangs(spec: InstanceSpec) -> bool:
        stuck[:] = stuck or [spec.instance_id]
        return spec.instance_id == stuck[0]

    host.prober.hangs = hangs

    async def body() -> None:
        prober = asyncio.create_task(rec._probe_loop())
        try:
            await asyncio.sleep(0)  # the prober starts
            await rec.pass_once()  # creates and starts both instances
            for _ in range(200):  # bounded: the inspections run on the loop
                if stuck:
                    break
                await asyncio.sleep(0.01)
            (first,) = [c for c in host.running(release) if c.spec.instance_id in stuck]
            (second,) = [c for c in host.running(release) if c is not first]
            for _ in range(200):  # bounded: the inspections and probes run on the loop
                state = rec.ledger.health.get(second.id)
                if state is not None and state.status == "healthy":
                    break
                await asyncio.sleep(0.01)
            assert rec.ledger.health[second.id].status == "healthy"
            assert rec.ledger.health[first.id].status == "starting"
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

    run(body)


def test_a_probe_of_an_instance_removed_since_the_last_pass_is_not_sent(host: Host) -> None:
    """The prober looks at the last pass's list, which may still show an instance the executor
    has removed since; its address answers nobody, so probing it only costs a timeout."""
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()
    probed: list[str] = []
    answer = host.prober.__call__

    async def counting(check: HealthCheck, address: str, port: int) -> ProbeResult:
        probed.append(address)
        return await answer(check, address, port)

    rec._probe = counting

    async def body() -> None:
        await rec.pass_once()
        await rec.pass_once()  # lists the started instance
        (container,) = host.running(release)
        rec.ledger.removed.add(container.id)
        prober = asyncio.create_task(rec._probe_loop())
        try:
            for _ in range(5):
                await asyncio.sleep(0.01)
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

    run(body)
    assert probed == []


def test_a_starting_instance_is_probed_often_then_every_tenth_of_a_second(host: Host) -> None:
    host.prober.sick = lambda spec: True
    host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> list[float]:
        await rec.pass_once()
        await rec.pass_once()  # lists the started instance
        gaps = []
        for _ in range(32):
            host.clock.advance(0.5)
            await probe(rec)
            (state,) = rec.ledger.health.values()
            gaps.append(round(state.next_probe - host.clock.time(), 3))
        return gaps

    assert run(body) == [0.01] * 29 + [0.1] * 3


# --- envs prepared before their first deploy ----------------------------------------------------


def test_a_host_of_its_own_prepares_each_new_env_once_and_undoes_it_when_the_env_goes(
    host: Host,
) -> None:
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, prepare_envs=True)
    other = "acme/shop/hello/staging"

    async def body() -> None:
        await rec.pass_once()
        await asyncio.sleep(0)  # preparations run beside the pass
        assert host.fake.prepared_envs == [host.env_id]
        await rec.pass_once()
        assert host.fake.prepared_envs == [host.env_id], "prepared once"
        staging = tenancy.create(host.services, ADMIN, "env", other)
        rec._tenancy_changed = True  # what the store's listener sets on that commit (below)
        await rec.pass_once()
        await asyncio.sleep(0)
        assert host.fake.prepared_envs == [host.env_id, staging["id"]]
        host.deploy(manifest(1), {"web": IMAGE_V1})  # deployed: nothing to undo
        rec._tenancy_changed = True
        await rec.pass_once()
        assert host.fake.released_envs == []
        tenancy.delete(host.services, ADMIN, "env", other)
        rec._tenancy_changed = True
        await rec.pass_once()
        assert host.fake.released_envs == [staging["id"]]

    run(body)


def test_the_store_listener_marks_tenancy_changes_for_the_next_pass(host: Host) -> None:
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, prepare_envs=True)

    async def body() -> None:
        await rec.pass_once()
        assert rec._tenancy_changed is False
        host.store.listeners.append(rec.poke)
        tenancy.create(host.services, ADMIN, "env", "acme/shop/hello/qa")
        assert rec._tenancy_changed is True
        await rec.pass_once()
        await asyncio.sleep(0)
        assert len(host.fake.prepared_envs) == 2

    run(body)


def test_a_cluster_member_prepares_no_env_ahead(host: Host) -> None:
    rec = host.reconciler()
    run(rec.pass_once)
    assert host.fake.prepared_envs == []


def test_the_engine_echoing_the_executors_own_starts_and_stops_wakes_no_pass(
    host: Host,
) -> None:
    """A rollout's starts and the old instances' stops are the executor's own doing and wake
    their pass themselves; the engine's events about them must not wake more passes (each
    one held the rollout up while it ran). A crash is news and wakes one."""
    rec = host.reconciler()
    heard: list[tuple[str, bool]] = []  # (action, woke a pass) per event the watcher read
    caused_here = rec._caused_here

    def deciding(event: RuntimeEvent) -> bool:
        echo = caused_here(event)
        heard.append((event.action, not echo))
        return echo

    rec._caused_here = deciding  # type: ignore[method-assign]

    async def body() -> None:
        watcher = asyncio.create_task(rec._watch_runtime())
        try:
            v1 = host.deploy(manifest(2), {"web": IMAGE_V1})
            await converge(host, rec, v1)
            v2 = host.deploy(manifest(2), {"web": IMAGE_V2})
            await converge(host, rec, v2)
            await asyncio.sleep(0.05)  # the watcher reads every event queued so far
            assert host.containers(v1) == []
            assert len(host.running(v2)) == 2
            # Four starts, and the die, stop and destroy of each of the two old instances.
            assert sorted(heard) == sorted([("start", False)] * 4
                                           + [("die", False), ("stop", False),
                                              ("destroy", False)] * 2)
            host.fake.crash(host.running(v2)[0].id, exit_code=2)
            await asyncio.sleep(0.05)
            assert heard[-1] == ("die", True)
        finally:
            watcher.cancel()

    run(body)
