"""The loop-device backend on the real kernel: sizes enforced, online growth, snapshots, remount."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from volume_support import cleanup_volumes, loops_of, needs_loop

from platd.volumes import LoopBackend, VolumeIOError, mount_source
from platd.volumes.loop import UnavailableBackend

MIB = 1024 * 1024
pytestmark = needs_loop


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LoopBackend]:
    yield LoopBackend(tmp_path)
    cleanup_volumes(tmp_path)


def fill(path: Path) -> int:
    """Write 1 MiB chunks until the filesystem refuses; returns the bytes written."""
    written = [0]
    chunk = b"x" * MIB

    def write_until_refused() -> None:
        with open(path, "ab") as f:
            while True:
                f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
                written[0] += len(chunk)

    with pytest.raises(OSError) as full:
        write_until_refused()
    assert full.value.errno == errno.ENOSPC
    return written[0]


def test_size_is_enforced_and_growth_is_online(backend: LoopBackend, tmp_path: Path) -> None:
    backend.create("v1", 300 * MIB)
    data = mount_source(tmp_path, "v1")
    first = fill(data / "big")
    assert 200 * MIB < first <= 300 * MIB
    usage = backend.usage("v1")
    assert usage is not None
    assert usage.available < MIB
    backend.resize("v1", 400 * MIB)  # still mounted, file still open elsewhere is fine
    assert fill(data / "more") >= 90 * MIB
    assert (data / "big").stat().st_size == first  # nothing lost


def test_snapshot_restore_in_place_and_as_new(backend: LoopBackend, tmp_path: Path) -> None:
    backend.create("v1", 300 * MIB)
    data = mount_source(tmp_path, "v1")
    (data / "f").write_text("before")
    backend.snapshot("v1", "s1")
    (data / "f").write_text("after")
    backend.restore("s1", "v2", 300 * MIB)  # a new volume from the snapshot, mounted beside
    assert (mount_source(tmp_path, "v2") / "f").read_text() == "before"
    assert (data / "f").read_text() == "after"
    backend.resize("v1", 400 * MIB)
    backend.restore("s1", "v1", 400 * MIB)  # roll back; the size it has now is kept
    assert (data / "f").read_text() == "before"
    usage = backend.usage("v1")
    assert usage is not None
    assert usage.capacity > 330 * MIB


def test_remount_after_restart_and_delete_cleans_up(backend: LoopBackend, tmp_path: Path) -> None:
    backend.create("v1", 300 * MIB)
    (mount_source(tmp_path, "v1") / "f").write_text("kept")
    backend.detach("v1")  # what a host reboot leaves: an image, no loop, no mount
    assert not backend.is_mounted("v1")
    assert loops_of(tmp_path) == []
    assert not mount_source(tmp_path, "v1").exists()  # instances cannot bind an empty dir
    assert backend.attach("v1") is True
    assert backend.attach("v1") is False
    assert (mount_source(tmp_path, "v1") / "f").read_text() == "kept"
    backend.delete("v1")
    assert loops_of(tmp_path) == []
    assert not backend.image("v1").exists()


def test_unavailable_backend_refuses_with_the_reason(tmp_path: Path) -> None:
    b = UnavailableBackend(tmp_path, "there are no loop devices")
    with pytest.raises(VolumeIOError, match="there are no loop devices"):
        b.create("v1", 300 * MIB)


def test_a_volume_left_frozen_by_a_killed_platd_is_thawed_at_attach(
    backend: LoopBackend, tmp_path: Path
) -> None:
    import subprocess

    backend.create("v1", 300 * MIB)
    subprocess.run(["fsfreeze", "-f", str(tmp_path / "volumes" / "mnt" / "v1")], check=True)
    assert backend.attach("v1") is False  # already mounted: only thawed
    target = mount_source(tmp_path, "v1") / "f"
    # In a child with a timeout: a write to a frozen filesystem would hang, not fail.
    subprocess.run(["sh", "-c", f"echo again > {target} && sync"], check=True, timeout=20)
    assert target.read_text() == "again\n"


def test_a_detach_waits_for_a_device_another_process_holds_and_a_reattach_mounts(
        backend: LoopBackend, tmp_path: Path) -> None:
    """``losetup -d`` on a device another process has open only marks it to be cleared when
    that one closes it. Re-attaching in between reused the device and the mount failed as it
    vanished (seen in CI: a detach and attach beside other tests probing loop devices)."""
    import threading

    backend.create("v1", 300 * MIB)
    (mount_source(tmp_path, "v1") / "f").write_text("kept")
    [loop] = loops_of(tmp_path)
    holder = os.open(loop, os.O_RDONLY)  # as a probe of the device would
    detached = threading.Thread(target=backend.detach, args=("v1",))
    try:
        detached.start()
        detached.join(0.5)
        assert detached.is_alive()  # still waiting for the device to be cleared
    finally:
        os.close(holder)
    detached.join(30)
    assert not detached.is_alive()
    assert loops_of(tmp_path) == []
    assert backend.attach("v1") is True
    assert (mount_source(tmp_path, "v1") / "f").read_text() == "kept"
