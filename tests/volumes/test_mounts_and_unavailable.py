"""Volume mounts in the container config and back from the engine's labels; a host without
loop devices refuses sizes it cannot enforce and says so in describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from platd.auth.tokens import Principal
from platd.datadir import DataDir
from platd.runtime.base import InstanceSpec
from platd.runtime.docker_shapes import container_config, observe
from platd.services import tenancy, volumes, volumes_read
from platd.spec.errors import Conflict
from platd.store.db import Store, migrate
from platd.volumes.fake import FakeBackend
from tests.daemon_support import service_context
from tui.render.volumes import volume_lines

ADMIN = Principal(token_id="t", name="admin", org_id=None, org_name=None, role="owner")
TARGET = "acme/shop/tools/prod"


def spec(**kw: object) -> InstanceSpec:
    return InstanceSpec(**{  # type: ignore[arg-type]
        "instance_id": "i1", "host_id": "h1", "env_id": "e1", "env_path": TARGET,
        "workload": "db", "release_id": "r1", "spec_hash": "s1",
        "image": "127.0.0.1:5000/busybox@sha256:" + "1" * 64, "command": None, "env": {},
        "cpu": 0.1, "memory": 32 * 1024**2, **kw,
    })


def test_volumes_become_bind_mounts_and_a_label_that_comes_back() -> None:
    config = container_config(spec(
        mounts={"/data": "/var/lib/platd/volumes/mnt/v1/data"},
        read_only_mounts={"/assets": "/var/lib/platd/volumes/mnt/v2/data"},
        volumes=("data", "assets")))
    assert {(m["Target"], m["ReadOnly"], m["Type"]) for m in config["HostConfig"]["Mounts"]} == {
        ("/data", False, "bind"), ("/assets", True, "bind")}
    assert config["Labels"]["dev.plat.volumes"] == "data,assets"
    seen = observe({"Id": "c1", "Config": {"Labels": config["Labels"]},
                    "State": {"Status": "running"}})
    assert seen.volumes == ("data", "assets")
    assert "dev.plat.volumes" not in container_config(spec())["Labels"]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    data = DataDir(tmp_path / "data")
    host = data.create("test")
    migrate(data.state_db)
    s = Store(data.state_db, host["id"])
    for kind, path in (("org", "acme"), ("project", "acme/shop"), ("app", "acme/shop/tools"),
                       ("env", TARGET)):
        tenancy.create(service_context(s), ADMIN, kind, path)
    return s


def test_a_host_that_cannot_enforce_sizes_refuses_and_describe_says_why(store: Store) -> None:
    off = service_context(store, volumes=FakeBackend(store.path.parent,
                                                     unavailable="there are no loop devices"))
    with pytest.raises(Conflict) as e:
        volumes.create_volume(off, ADMIN, TARGET, "data", "1G")
    assert "this host cannot enforce a volume's size (there are no loop devices)" in e.value.message
    assert "refuses sizes it cannot enforce rather than pretend" in e.value.hint[0]
    # A volume made while the host could (loop devices gone since): describe is honest.
    on = service_context(store, volumes=FakeBackend(store.path.parent))
    volumes.create_volume(on, ADMIN, TARGET, "data", "1G")
    d = volumes_read.describe_volume(off, ADMIN, TARGET, "data")
    assert d["enforced"] is False
    assert "  size        1G (NOT enforced: there are no loop devices)" in volume_lines(d)
    assert volumes_read.list_volumes(off, ADMIN, TARGET)["unavailable"] == (
        "there are no loop devices")
