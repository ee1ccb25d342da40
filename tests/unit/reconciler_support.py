"""A host for driving the control loop by hand in unit tests, and the steps that drive it.

Tests of the reconciler (``test_reconciler_*.py``, ``test_readiness_rules.py``) build a host
like ``platd init`` does (a real SQLite store, the fake runtime, a manual clock, a prober that
answers as the test says), deploy through the same services the API calls, and run
``Reconciler.pass_once`` one step at a time, so every step is deterministic: no sleeps, no timing
assertions. Import the ``host`` fixture from here, with the helpers.
"""

from __future__ import annotations

import asyncio
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
from platd.runtime.base import InstanceSpec
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
