"""platd/disk.py: when the host counts as full, and when the ballast is given back and set
aside again. ``statvfs`` is faked (a filesystem of a chosen size); the ballast files are real."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from platd.disk import BALLAST_BYTES, START_BALLAST_BYTES, DiskWatch
from platd.spec.errors import StorageFull

MIB = 1024 * 1024


class Disk:
    """A filesystem of ``total`` bytes whose free space is ``free`` plus what the ballast
    files of ``data`` do not hold."""

    def __init__(self, data: Path, total: int, free: int) -> None:
        self.data, self.total, self.free = data, total, free

    def statvfs(self, _path: str) -> Any:
        held = sum(p.stat().st_size for p in self.data.glob("ballast*"))
        avail = max(self.free - held, 0) // 4096
        return os.statvfs_result((4096, 4096, self.total // 4096, avail, avail, 0, 0, 0, 0, 255))


def _watch(tmp_path: Path, free: int, min_free: int = 64 * MIB) -> tuple[DiskWatch, Disk]:
    disk = Disk(tmp_path, 1024 * MIB, free)
    return DiskWatch(tmp_path, min_free, statvfs=disk.statvfs), disk


def test_a_disk_with_room_is_not_full_and_sets_the_ballasts_aside(tmp_path: Path) -> None:
    watch, _ = _watch(tmp_path, free=500 * MIB)
    state = watch.state(fresh=True)
    assert not state.full
    assert (tmp_path / "ballast").stat().st_size == BALLAST_BYTES
    assert (tmp_path / "ballast.start").stat().st_size == START_BALLAST_BYTES
    watch.require_room("a deploy")  # does not raise


def test_below_min_free_the_host_is_full_and_additions_are_refused(tmp_path: Path) -> None:
    watch, disk = _watch(tmp_path, free=500 * MIB)
    watch.state(fresh=True)
    disk.free = 60 * MIB
    assert watch.state(fresh=True).full
    with pytest.raises(StorageFull) as info:
        watch.require_room("the deploy to a/b/c/d")
    assert "the deploy to a/b/c/d was refused" in info.value.message
    assert info.value.details["path"] == str(tmp_path)


def test_the_ballast_goes_when_free_space_runs_out_and_the_start_ballast_stays(
        tmp_path: Path) -> None:
    watch, disk = _watch(tmp_path, free=500 * MIB)
    watch.state(fresh=True)
    disk.free = BALLAST_BYTES + START_BALLAST_BYTES + MIB  # another writer took the rest
    state = watch.state(fresh=True)
    assert not (tmp_path / "ballast").exists()
    assert (tmp_path / "ballast.start").exists()
    assert state.free_bytes >= BALLAST_BYTES


def test_a_starting_platd_with_nothing_free_gives_both_back(tmp_path: Path) -> None:
    watch, disk = _watch(tmp_path, free=500 * MIB)
    watch.state(fresh=True)
    disk.free = BALLAST_BYTES + START_BALLAST_BYTES  # not a byte beyond the ballasts
    state = DiskWatch(tmp_path, 64 * MIB, statvfs=disk.statvfs).starting()
    assert not list(tmp_path.glob("ballast*"))
    assert state.free_bytes == BALLAST_BYTES + START_BALLAST_BYTES


def test_the_ballasts_come_back_once_there_is_room_again(tmp_path: Path) -> None:
    watch, disk = _watch(tmp_path, free=10 * MIB)
    assert watch.state(fresh=True).full
    assert not list(tmp_path.glob("ballast*"))
    disk.free = 500 * MIB
    assert not watch.state(fresh=True).full
    assert len(list(tmp_path.glob("ballast*"))) == 2
