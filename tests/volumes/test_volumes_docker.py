"""Volumes end to end on the real Docker engine: data survives, sizes hold, stop-first is visible.

Each test drives the real ``plat`` against a real ``platd`` and reads and writes the volume only
through ``plat exec`` inside the instance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from volume_support import cleanup_volumes, needs_loop

from tests.conftest import Daemon, _remove_containers
from tests.integration.helpers import containers, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow, needs_loop]
TARGET = "acme/shop/tools/prod"
BUSYBOX = "127.0.0.1:5000/busybox:latest"
# A process that leaves at once on SIGTERM, so stop-first rollouts do not wait 10 s for a kill.
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


def write_manifest(tmp: Path, memory: str = "32M") -> str:
    path = tmp / "plat.toml"
    path.write_text(f"""\
app = "tools"

[workloads.db]
image = "{BUSYBOX}"
command = {json.dumps(COMMAND)}
count = 1
cpu = 0.2
memory = "{memory}"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it

[[volumes]]
name = "data"
workload = "db"
mount = "/data"
""")
    return str(path)


def setup(d: Daemon, tmp: Path, size: str = "300M") -> str:
    d.make_env(TARGET)
    assert d.plat("use", TARGET).code == 0
    r = d.plat("volumes", "create", "data", "--size", size)
    assert r.code == 0, r.err
    path = write_manifest(tmp)
    r = d.plat("deploy", "-f", path)
    assert r.code == 0, r.out + r.err
    return path


def sh(d: Daemon, script: str) -> tuple[int, str, str]:
    r = d.plat("exec", "db", "--", "sh", "-c", script)
    return r.code, r.out, r.err


def instance_ids(d: Daemon) -> list[str]:
    s = d.plat("status", "--json").json()
    return [i["id"] for w in s["workloads"] for i in w["instances"] if i["state"] == "running"]


def test_data_survives_redeploy_rollback_and_daemon_restarts(
    docker_vdaemon: Daemon, tmp_path: Path
) -> None:
    d = docker_vdaemon
    setup(d, tmp_path)
    assert sh(d, "echo kept > /data/note")[0] == 0
    (first,) = instance_ids(d)

    # A redeploy that replaces the instance: the receipt says stop-first and why.
    r = d.plat("deploy", "-f", write_manifest(tmp_path, memory="48M"))
    assert r.code == 0, r.out + r.err
    assert "db: this rollout is stop-first: db mounts volume data at /data read-write" in r.out
    (second,) = instance_ids(d)
    assert second != first
    assert sh(d, "cat /data/note")[1].strip() == "kept"
    listed = d.plat("events", "--json", "--limit", "500").out
    events = [json.loads(line) for line in listed.splitlines()]
    stopped = next(e["seq"] for e in events if e["step"] == "stop" and e["outcome"] == "ok"
                   and e["instance_id"] == first)
    created = next(e["seq"] for e in events if e["step"] == "create" and e["outcome"] == "started"
                   and e["instance_id"] == second)
    assert stopped < created, "the new instance started before the old one had stopped"

    # status and describe say where it runs and why, in plain words.
    status = d.plat("status").out
    assert "db: placement: runs on host" in status
    assert "because it mounts volume data" in status
    assert "db: rollout: stop-first" in status
    assert "placement: runs on host" in d.plat("describe", "workload", "db").out

    r = d.plat("rollback")
    assert r.code == 0, r.out + r.err
    assert sh(d, "cat /data/note")[1].strip() == "kept"

    r = d.plat("volumes", "delete", "data", "--yes")
    assert r.code == 5
    assert "is attached" in r.err

    d.kill9()
    d.start()
    assert sh(d, "cat /data/note")[1].strip() == "kept"

    # What a host reboot leaves: no containers, no loop devices, no mounts; only the files.
    (before,) = instance_ids(d)
    d.stop()
    _remove_containers(d.host_id)
    cleanup_volumes(d.data)
    d.start()
    wait_for(lambda: [i for i in instance_ids(d) if i != before], timeout=60)
    code, out, err = sh(d, "cat /data/note")
    assert out.strip() == "kept", (code, err)
    assert "mounted volume data again" in d.plat("events").out


def test_writes_stop_at_the_size_and_resize_grows_online(
    docker_vdaemon: Daemon, tmp_path: Path
) -> None:
    d = docker_vdaemon
    setup(d, tmp_path)
    (instance,) = instance_ids(d)
    code, _out, err = sh(d, "dd if=/dev/zero of=/data/fill bs=1M count=400 conv=fsync")
    assert code != 0
    assert "No space left on device" in err
    code, out, _ = sh(d, "df -k /data | tail -1")
    assert out.split()[3] == "0" or int(out.split()[3]) < 1024  # nothing (or under 1M) left

    r = d.plat("volumes", "resize", "data", "--size", "600M")
    assert r.code == 0, r.err
    assert "online" in r.out
    code, _out, err = sh(d, "dd if=/dev/zero of=/data/more bs=1M count=250 conv=fsync")
    assert code == 0, err
    assert instance_ids(d) == [instance]  # the same instance kept running throughout
    v = d.plat("volumes", "describe", "data", "--json").json()
    assert v["size"] == 600 * 1024**2
    assert v["usage"]["used"] > 450 * 1024**2


def test_snapshot_change_restore_reads_the_old_data(docker_vdaemon: Daemon, tmp_path: Path) -> None:
    d = docker_vdaemon
    setup(d, tmp_path)
    assert sh(d, "echo one > /data/f; sync")[0] == 0
    r = d.plat("volumes", "snapshot", "create", "data")
    assert r.code == 0, r.err
    assert "Snapshot snap-1 of volume data" in r.out
    assert sh(d, "echo two > /data/f")[0] == 0

    r = d.plat("volumes", "snapshot", "restore", "data", "snap-1")
    assert r.code == 5
    assert "plat scale db --count 0" in r.err
    assert d.plat("scale", "db", "--count", "0").code == 0
    wait_for(lambda: not [c for c in containers(d.host_id) if c.state == "running"], timeout=60)
    wait_for(lambda: d.plat("volumes", "snapshot", "restore", "data", "snap-1").code == 0,
             timeout=30)
    assert d.plat("scale", "db", "--count", "1").code == 0
    wait_for(lambda: instance_ids(d), timeout=60)
    assert sh(d, "cat /data/f")[1].strip() == "one"

    # Restoring into a new volume leaves the first alone.
    assert sh(d, "echo three > /data/f")[0] == 0
    assert d.plat("volumes", "snapshot", "restore", "data", "snap-1", "--as", "copy").code == 0
    assert sh(d, "cat /data/f")[1].strip() == "three"
    copies = d.plat("volumes", "list", "--json").json()["volumes"]
    assert sorted(v["name"] for v in copies) == ["copy", "data"]


def test_gate_refuses_a_manifest_whose_volume_does_not_exist(
    docker_vdaemon: Daemon, tmp_path: Path
) -> None:
    d = docker_vdaemon
    d.make_env(TARGET)
    assert d.plat("use", TARGET).code == 0
    r = d.plat("deploy", "-f", write_manifest(tmp_path))
    assert r.code == 6
    assert f"plat volumes create data --size 1G --target {TARGET}" in r.err
    assert containers(d.host_id) == []
