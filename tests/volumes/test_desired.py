"""Desired workloads carry their volume bindings: the host path, or why it cannot be mounted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from platd.auth.tokens import Principal
from platd.datadir import DataDir
from platd.reconcile.desired import load_desired
from platd.services import releases, tenancy, volumes
from platd.store.db import Store, migrate
from platd.store.models import Volume
from platd.volumes import mount_source
from platd.volumes.fake import FakeBackend
from tests.daemon_support import service_context

ADMIN = Principal(token_id="t", name="admin", org_id=None, org_name=None, role="owner")
TARGET = "acme/shop/tools/prod"
IMAGE = "127.0.0.1:5000/busybox@sha256:" + "1" * 64
MANIFEST = f"""\
app = "tools"
[workloads.db]
image = "{IMAGE}"
[workloads.web]
image = "{IMAGE}"
count = 2
[[volumes]]
name = "data"
workload = "db"
mount = "/data"
[[volumes]]
name = "assets"
workload = "web"
mount = "/assets"
read_only = true
"""


@pytest.fixture
def world(tmp_path: Path) -> tuple[Store, FakeBackend]:
    data = DataDir(tmp_path / "data")
    host = data.create("test")
    migrate(data.state_db)
    store = Store(data.state_db, host["id"])
    backend = FakeBackend(data.path)
    ctx = service_context(store, volumes=backend)
    for kind, path in (("org", "acme"), ("project", "acme/shop"), ("app", "acme/shop/tools"),
                       ("env", TARGET)):
        tenancy.create(ctx, ADMIN, kind, path)
    for name in ("data", "assets"):
        volumes.create_volume(ctx, ADMIN, TARGET, name, "1G")
    plan = releases.prepare_deploy(ctx, ADMIN, TARGET, MANIFEST, {})
    releases.commit_deploy(ctx, ADMIN, plan, dict.fromkeys(plan.refs, IMAGE), IMAGE)
    return store, backend


def volume_ids(store: Store) -> dict[str, str]:
    with store.read() as session:
        return {v.name: v.id for v in session.exec(select(Volume))}


def bindings(store: Store) -> dict[str, tuple]:  # type: ignore[type-arg]
    desired, _status = load_desired(store)
    return {d.workload: (d.stop_first, d.volumes) for d in desired}


def test_bindings_point_at_the_data_dir_inside_the_volume(world: tuple[Store, FakeBackend]) -> None:
    store, _backend = world
    b = bindings(store)
    stop_first, (data,) = b["db"]
    assert stop_first
    assert data.target == "/data"
    assert data.problem is None
    assert data.source == str(mount_source(store.path.parent, volume_ids(store)["data"]))
    ro_first, (assets,) = b["web"]
    assert not ro_first
    assert assets.read_only


def test_an_unmounted_missing_or_remote_volume_says_why(world: tuple[Store, FakeBackend]) -> None:
    store, _backend = world
    data_id = volume_ids(store)["data"]
    shutil.rmtree(mount_source(store.path.parent, data_id))
    (_sf, (data,)) = bindings(store)["db"]
    assert data.problem is not None
    assert "volume data is not mounted on this host" in data.problem
    with store.write() as session:
        row = session.get(Volume, data_id)
        assert row is not None
        row.host_id = "01-ffffffffffff"
        session.add(row)
    (_sf, (data,)) = bindings(store)["db"]
    assert data.problem == ("volume data lives on host ffffffffffff; instances that mount it "
                            "run there")
    with store.write() as session:
        row = session.get(Volume, data_id)
        assert row is not None
        row.deleted = True
        session.add(row)
    (_sf, (data,)) = bindings(store)["db"]
    assert data.problem is not None
    assert data.problem.startswith("volume data does not exist in acme/shop/tools/prod: "
                                   "plat volumes create data --size 1G")
