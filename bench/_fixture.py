"""A reconciler over many workloads, converged on the fake runtime, for benchmarks."""

from __future__ import annotations

from pathlib import Path

from platd.auth.tokens import Principal
from platd.clock import ManualClock
from platd.datadir import DataDir
from platd.feed import Feed
from platd.reconcile.health import always_healthy
from platd.reconcile.loop import Reconciler
from platd.runtime.base import HostCapacity
from platd.runtime.fake import FakeRuntime
from platd.secrets.crypto import SecretBox, create_key_file
from platd.services import releases, tenancy
from platd.services.context import Endpoints, Images, ServiceContext
from platd.spec.volumes import HostInfo
from platd.store.db import Store, migrate
from platd.volumes.fake import FakeBackend

ADMIN = Principal(token_id="bench", name="bench", org_id=None, org_name=None, role="owner")
PER_ENV = 4


async def converged_reconciler(tmp: Path, workloads: int) -> tuple[Reconciler, FakeRuntime]:
    data = DataDir(tmp / "data")
    host = data.create("bench")
    migrate(data.state_db)
    create_key_file(data.key_file)
    store = Store(data.state_db, host["id"])
    image = "127.0.0.1:5000/hello@sha256:" + "1" * 64
    clock = ManualClock()
    fake = FakeRuntime([image], clock=clock,
                       host_capacity=HostCapacity(cpus=10_000, memory=10**15))
    box = SecretBox.from_file(data.key_file)
    svc = _services(store, clock, box, fake, data)
    tenancy.create(svc, ADMIN, "org", "bench")
    tenancy.create(svc, ADMIN, "project", "bench/p")
    tenancy.create(svc, ADMIN, "app", "bench/p/app")
    body = "\n".join(
        f'[workloads.w{i}]\nimage = "{image}"\ncount = 1\ncpu = 0.1\nmemory = "16M"\n'
        'min_ready = "1s"'
        for i in range(PER_ENV)
    )
    manifest = f'app = "app"\n{body}\n'
    for n in range(workloads // PER_ENV):
        target = f"bench/p/app/e{n}"
        tenancy.create(svc, ADMIN, "env", target)
        plan = releases.prepare_deploy(svc, ADMIN, target, manifest, {})
        releases.commit_deploy(svc, ADMIN, plan, dict.fromkeys(plan.refs, image), image)
    reconciler = Reconciler(store, fake, box, tmp / "secrets", clock=clock,
                            prober=always_healthy)
    for _ in range(5):
        await reconciler.pass_once()
        clock.advance(5)
    return reconciler, fake


def _services(store: Store, clock: ManualClock, box: SecretBox, runtime: FakeRuntime,
              data: DataDir) -> ServiceContext:
    async def resolve(reference: str) -> str:
        return reference

    return ServiceContext(
        store=store, feed=Feed(), clock=clock, host=HostInfo(store.host_id, "bench", {}),
        box=box, runtime=runtime, volumes=FakeBackend(data.path), images=Images(resolve),
        endpoints=Endpoints(),
    )
