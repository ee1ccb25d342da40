"""A volume backend for unit tests: plain directories, sizes remembered but not enforced."""

from __future__ import annotations

import shutil
from pathlib import Path

from platd.volumes.backend import Usage, VolumeIOError, mount_source, mountpoint, volumes_root


class FakeBackend:
    filesystem = "fake"

    def __init__(self, data_path: Path, unavailable: str | None = None) -> None:
        self.data_path = data_path
        self.unavailable = unavailable
        self.sizes: dict[str, int] = {}
        self.free = 1 << 40
        self.calls: list[tuple[str, ...]] = []

    def _check(self) -> None:
        if self.unavailable:
            raise VolumeIOError(self.unavailable)

    def create(self, volume_id: str, size: int) -> None:
        self._check()
        self.calls.append(("create", volume_id))
        mount_source(self.data_path, volume_id).mkdir(parents=True)
        self.sizes[volume_id] = size

    def attach(self, volume_id: str) -> bool:
        self.calls.append(("attach", volume_id))
        return False

    def detach(self, volume_id: str) -> None:
        self.calls.append(("detach", volume_id))

    def is_mounted(self, volume_id: str) -> bool:
        return volume_id in self.sizes

    def resize(self, volume_id: str, size: int) -> None:
        self._check()
        self.calls.append(("resize", volume_id))
        self.sizes[volume_id] = size

    def usage(self, volume_id: str) -> Usage | None:
        if volume_id not in self.sizes:
            return None
        used = sum(p.stat().st_size for p in mountpoint(self.data_path, volume_id).rglob("*")
                   if p.is_file())
        return Usage(self.sizes[volume_id], used, self.sizes[volume_id] - used)

    def snapshot(self, volume_id: str, snapshot_id: str) -> None:
        self._check()
        self.calls.append(("snapshot", volume_id, snapshot_id))
        shutil.copytree(mountpoint(self.data_path, volume_id),
                        volumes_root(self.data_path) / "snapshots" / snapshot_id)

    def restore(self, snapshot_id: str, volume_id: str, size: int) -> None:
        self._check()
        self.calls.append(("restore", snapshot_id, volume_id))
        target = mountpoint(self.data_path, volume_id)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(volumes_root(self.data_path) / "snapshots" / snapshot_id, target)
        self.sizes[volume_id] = size

    def delete(self, volume_id: str) -> None:
        self.calls.append(("delete", volume_id))
        shutil.rmtree(mountpoint(self.data_path, volume_id), ignore_errors=True)
        self.sizes.pop(volume_id, None)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.calls.append(("delete_snapshot", snapshot_id))
        shutil.rmtree(volumes_root(self.data_path) / "snapshots" / snapshot_id, ignore_errors=True)

    def free_bytes(self) -> int:
        return self.free
