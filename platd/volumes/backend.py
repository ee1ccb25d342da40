"""The boundary between volume rules and the host: what a volume backend must do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


def volumes_root(data_path: Path) -> Path:
    return data_path / "volumes"


def mountpoint(data_path: Path, volume_id: str) -> Path:
    return volumes_root(data_path) / "mnt" / volume_id


def mount_source(data_path: Path, volume_id: str) -> Path:
    """What is bind-mounted into instances: a directory *inside* the volume's filesystem.

    If the filesystem is not mounted the directory does not exist, and Docker refuses to create
    the container instead of quietly handing it an empty directory on the host's own disk.
    """
    return mountpoint(data_path, volume_id) / "data"


@dataclass(frozen=True)
class Usage:
    capacity: int  # bytes the filesystem can hold (its size less its own metadata)
    used: int
    available: int


class VolumeIOError(Exception):
    """A host operation on a volume failed; the message names the command and its output."""


class VolumeBackend(Protocol):
    #: None when sized volumes work on this host; otherwise why they cannot, in plain words.
    unavailable: str | None
    filesystem: str

    def create(self, volume_id: str, size: int) -> None:
        """Allocate, format and mount a new volume of ``size`` bytes."""
        ...

    def attach(self, volume_id: str) -> bool:
        """Make sure the volume is mounted (after a daemon or host restart); True if it was not."""
        ...

    def detach(self, volume_id: str) -> None: ...

    def is_mounted(self, volume_id: str) -> bool: ...

    def resize(self, volume_id: str, size: int) -> None:
        """Grow the volume to ``size`` bytes while it stays mounted (and in use)."""
        ...

    def usage(self, volume_id: str) -> Usage | None: ...

    def snapshot(self, volume_id: str, snapshot_id: str) -> None:
        """A consistent point-in-time copy: writes are frozen while the image is copied."""
        ...

    def restore(self, snapshot_id: str, volume_id: str, size: int) -> None:
        """Replace the (detached) volume's content by the snapshot's, or create it from it."""
        ...

    def delete(self, volume_id: str) -> None: ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...

    def free_bytes(self) -> int:
        """What the data disk can still give to new volumes and growth."""
        ...
