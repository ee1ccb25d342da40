"""A reconciler over many workloads, converged on the fake runtime, for benchmarks."""

from __future__ import annotations

from pathlib import Path

from platd.auth.tokens import Principal
from platd.datadir import DataDir
from platd.reconcile.health import always_healthy
from platd.reconcile.loop import Reconciler
from platd.runtime.base import HostCapacity
from platd.runtime.fake import FakeRuntime
from platd.secrets.crypto import SecretBox, create_key_file
from platd.services import releases, tenancy
from platd.store.db import Store, migrate

ADMIN = Principal(token_id="bench", name="bench", org_id=None, org_name=None, role="owner")
PER_ENV = 4


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def converged_reconciler(tmp: Path, workloads: int) -> tuple[Reconciler, FakeRuntime]:
    data = DataDir(tmp / "data")
    host = data.create("bench")
    migrate(data.state_db)
    create_key_file(data.key_file)
    store = Store(data.state_db, host["id"])
    image = "127.0.0.1:5000/hello@sha256:" + "1" * 64
    clock = Clock()
    fake = FakeRuntime([image], clock=clock,
                       host_capacity=HostCapacity(cpus=10_000, memory=10**15))
    tenancy.create(store, ADMIN, "org", "bench")
    tenancy.create(store, ADMIN, "project", "bench/p")
    tenancy.create(store, ADMIN, "app", "bench/p/app")
    body = "\n".join(
        f'[workloads.w{i}]\nimage = "{image}"\ncount = 1\ncpu = 0.1\nmemory = "16M"'
        for i in range(PER_ENV)
    )
    manifest = f'app = "app"\n{body}\n'
    for n in range(workloads // PER_ENV):
        target = f"bench/p/app/e{n}"
        tenancy.create(store, ADMIN, "env", target)
        plan = releases.prepare_deploy(store, ADMIN, target, manifest, {})
        releases.commit_deploy(store, ADMIN, plan, dict.fromkeys(plan.refs, image), image)
    reconciler = Reconciler(store, fake, SecretBox.from_file(data.key_file), tmp / "secrets",
                            clock=clock, prober=always_healthy)
    for _ in range(5):
        await reconciler.pass_once()
        clock.now += 5
    return reconciler, fake
