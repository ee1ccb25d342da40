"""plat volumes against a real platd (fake runtime, real volumes): receipts, words, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from volume_support import loops_of, needs_loop

from tests.conftest import Daemon

pytestmark = needs_loop
TARGET = "acme/shop/tools/prod"
MANIFEST = """\
app = "tools"

[workloads.db]
image = "127.0.0.1:5000/busybox:latest"
command = ["sleep", "1000000"]
count = {count}
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it

[[volumes]]
name = "{volume}"
workload = "db"
mount = "/data"
"""


def ready(d: Daemon) -> None:
    d.make_env(TARGET)
    assert d.plat("use", TARGET).code == 0


def manifest(tmp: Path, count: int = 1, volume: str = "data") -> str:
    path = tmp / "plat.toml"
    path.write_text(MANIFEST.format(count=count, volume=volume))
    return str(path)


@pytest.mark.parametrize(("size", "words"), [
    ("0", 'volume size "0" is below the minimum of 300M'),
    ("-1G", "a size cannot be negative"),
    ("99999T", "is above the maximum of 16T"),
    ("10T", "is more than this host can reserve"),
    ("1.5Q", 'unknown unit "Q"'),
    ("ten", "expected a number followed by an optional unit"),
    ("512", 'a bare number is bytes; did you mean "512M"?'),
])
def test_bad_sizes_are_refused_and_nothing_is_created(
    vdaemon: Daemon, size: str, words: str
) -> None:
    ready(vdaemon)
    r = vdaemon.plat("volumes", "create", "data", f"--size={size}")
    assert r.code == 2, r.err
    assert words in r.err
    assert loops_of(vdaemon.data) == []
    assert vdaemon.plat("volumes", "list", "--json").json()["volumes"] == []


def test_bad_names_duplicates_and_unknown_things(vdaemon: Daemon) -> None:
    ready(vdaemon)
    r = vdaemon.plat("volumes", "create", "Data_1", "--size", "300M")
    assert r.code == 2
    assert "invalid volume name 'Data_1'" in r.err
    assert vdaemon.plat("volumes", "create", "data", "--size", "300M").code == 0
    r = vdaemon.plat("volumes", "create", "data", "--size", "1G")
    assert r.code == 5
    assert "volume data already exists in acme/shop/tools/prod" in r.err
    r = vdaemon.plat("volumes", "describe", "nope")
    assert r.code == 4
    assert "no volume 'nope' in acme/shop/tools/prod (volumes there: data)" in r.err
    r = vdaemon.plat("volumes", "snapshot", "restore", "data", "snap-7")
    assert r.code == 4
    assert "no snapshot 'snap-7' of volume data (snapshots: none)" in r.err
    r = vdaemon.plat("volumes", "snapshot", "delete", "data", "whatever")
    assert r.code == 4
    status, body = vdaemon.api("POST", f"/v1/envs/{TARGET}/volumes", {"name": "x", "size": [1]})
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    status, body = vdaemon.api("POST", f"/v1/envs/{TARGET}/volumes",
                               {"name": "x", "size": "1G", "colour": "red"})
    assert status == 422


def test_placement_that_no_host_meets_lists_hosts_and_labels(vdaemon: Daemon) -> None:
    ready(vdaemon)
    r = vdaemon.plat("volumes", "create", "data", "--size", "300M", "--region", "mars")
    assert r.code == 2
    assert "error: no host meets region=mars" in r.err
    assert "hosts that exist: " in r.err
    assert "region=local" in r.err
    assert "regions that exist: local" in r.err
    r = vdaemon.plat("volumes", "create", "data", "--size", "300M", "--region", "local", "--json")
    assert r.code == 0, r.err
    v = r.json()
    assert v["host"]["id"] == vdaemon.host_id
    assert v["region"] == "local"


def test_describe_shows_size_usage_host_attachment_snapshots_and_commands(
    vdaemon: Daemon, tmp_path: Path
) -> None:
    ready(vdaemon)
    assert vdaemon.plat("volumes", "create", "data", "--size", "400M").code == 0
    assert vdaemon.plat("deploy", "-f", manifest(tmp_path), "--detach").code == 0
    assert vdaemon.plat("volumes", "snapshot", "create", "data").code == 0
    r = vdaemon.plat("volumes", "describe", "data")
    assert r.code == 0, r.err
    out = r.out
    assert "size        400M (xfs, size enforced)" in out
    assert "usable" in out
    assert "labels: region=local" in out
    assert "attached    db at /data (read-write, release v1, count 1)" in out
    assert "placement   instances of db run on host" in out
    assert "snap-1" in out
    for cmd in ("plat volumes resize data --size SIZE", "plat volumes snapshot create data",
                "plat volumes snapshot restore data SNAPSHOT [--as NEW_NAME]",
                "plat volumes delete data"):
        assert cmd in out
    d = vdaemon.plat("volumes", "describe", "data", "--json").json()
    assert d["size"] == 400 * 1024**2
    assert d["usage"]["used"] > 0
    assert d["attached"]["mount"] == "/data"


def test_shrink_delete_and_restore_refusals_say_why(vdaemon: Daemon, tmp_path: Path) -> None:
    ready(vdaemon)
    assert vdaemon.plat("volumes", "create", "data", "--size", "400M").code == 0
    r = vdaemon.plat("volumes", "resize", "data", "--size", "300M")
    assert r.code == 5
    assert "volume data is 400M; it cannot shrink to 300M" in r.err
    assert vdaemon.plat("deploy", "-f", manifest(tmp_path), "--detach").code == 0
    r = vdaemon.plat("volumes", "delete", "data", "--yes")
    assert r.code == 5
    assert "volume data is attached: release v1 mounts it on db at /data" in r.err
    assert vdaemon.plat("volumes", "snapshot", "create", "data").code == 0
    r = vdaemon.plat("volumes", "snapshot", "restore", "data", "snap-1")
    assert r.code == 5
    assert "volume data is in use" in r.err
    assert f"plat scale db --count 0 --target {TARGET}" in r.err
    r = vdaemon.plat("scale", "db", "--count", "2")
    assert r.code == 5
    assert "mounted read-write by one instance at a time" in r.err


def test_gate_refuses_missing_volumes_and_shared_counts_naming_the_fix(
    vdaemon: Daemon, tmp_path: Path
) -> None:
    ready(vdaemon)
    r = vdaemon.plat("deploy", "-f", manifest(tmp_path, volume="pgdata"))
    assert r.code == 6, r.err
    assert f"plat volumes create pgdata --size 1G --target {TARGET}" in r.err
    assert "line 11" in r.err
    assert vdaemon.plat("volumes", "create", "pgdata", "--size", "300M").code == 0
    r = vdaemon.plat("deploy", "-f", manifest(tmp_path, count=3, volume="pgdata"))
    assert r.code == 6
    assert "workload db asks for 3 instances but mounts volume pgdata read-write" in r.err
    # The daemon checks again (a client that skips the gate gets the same refusal).
    status, body = vdaemon.api("POST", f"/v1/envs/{TARGET}/deploy",
                               {"manifest": MANIFEST.format(count=1, volume="other")})
    assert status == 409
    assert body["error"]["code"] == "config_gate"
    assert vdaemon.plat("releases", "--json").json()["releases"] == []


def test_snapshot_restore_as_new_and_delete_with_snapshots(vdaemon: Daemon) -> None:
    ready(vdaemon)
    assert vdaemon.plat("volumes", "create", "data", "--size", "300M").code == 0
    data = vdaemon.plat("volumes", "describe", "data", "--json").json()
    mnt = vdaemon.data / "volumes" / "mnt" / data["id"] / "data"
    (mnt / "f").write_text("one")
    r = vdaemon.plat("volumes", "snapshot", "create", "data", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["name"] == "snap-1"
    (mnt / "f").write_text("two")
    assert vdaemon.plat("volumes", "snapshot", "restore", "data", "1", "--as", "copy").code == 0
    copy = vdaemon.plat("volumes", "describe", "copy", "--json").json()
    assert (vdaemon.data / "volumes" / "mnt" / copy["id"] / "data" / "f").read_text() == "one"
    assert vdaemon.plat("volumes", "snapshot", "restore", "data", "snap-1").code == 0  # unattached
    assert (mnt / "f").read_text() == "one"
    r = vdaemon.plat("volumes", "delete", "data", "--yes")
    assert r.code == 0, r.err
    assert "and its 1 snapshot(s)" in r.out
    assert vdaemon.plat("volumes", "delete", "copy", "--yes").code == 0
    assert loops_of(vdaemon.data) == []
    assert list((vdaemon.data / "volumes" / "images").iterdir()) == []
    assert list((vdaemon.data / "volumes" / "snapshots").iterdir()) == []


def test_an_env_with_volumes_is_not_deleted_with_them(vdaemon: Daemon) -> None:
    ready(vdaemon)
    assert vdaemon.plat("volumes", "create", "data", "--size", "300M").code == 0
    r = vdaemon.plat("envs", "delete", TARGET, "--yes")
    assert r.code == 5
    assert f"env {TARGET} still has volumes: data" in r.err
    assert f"plat volumes delete NAME --target {TARGET}" in r.err
    assert vdaemon.plat("volumes", "delete", "data", "--yes").code == 0
    assert vdaemon.plat("envs", "delete", TARGET, "--yes").code == 0


def test_receipts_of_deploy_rollback_and_scale_say_stop_first_and_why(
    vdaemon: Daemon, tmp_path: Path
) -> None:
    ready(vdaemon)
    assert vdaemon.plat("volumes", "create", "data", "--size", "300M").code == 0
    path = manifest(tmp_path)
    r = vdaemon.plat("deploy", "-f", path, "--detach")
    assert "db: runs one instance, on the volume's host; later rollouts are stop-first" in r.out
    Path(path).write_text(Path(path).read_text().replace('"32M"', '"48M"'))
    r = vdaemon.plat("deploy", "-f", path, "--detach")
    why = ("db mounts volume data at /data read-write, and a volume is mounted by one instance "
           "at a time: the old instance stops before the new one starts")
    assert f"db: this rollout is stop-first: {why}" in r.out
    status, body = vdaemon.api("POST", f"/v1/envs/{TARGET}/rollback",
                               {"release": "v1", "dry_run": True})
    assert status == 201
    assert body["stop_first"][0]["workload"] == "db"
    r = vdaemon.plat("rollback", "v1", "--detach")
    assert f"db: this rollout is stop-first: {why}" in r.out
    r = vdaemon.plat("scale", "db", "--memory", "64M")
    assert f"the instance is replaced stop-first: {why}" in r.out
