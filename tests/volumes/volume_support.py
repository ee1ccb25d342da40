"""Helpers for volume tests: undo what platd leaves mounted, find loop devices."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from platd.volumes import probe

UNAVAILABLE = probe()
needs_loop = pytest.mark.skipif(UNAVAILABLE is not None,
                                reason=f"sized volumes unavailable: {UNAVAILABLE}")


def cleanup_volumes(data: Path) -> None:
    root = str(data.resolve())
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(root)]
    for mnt in sorted(mounts, reverse=True):
        subprocess.run(["umount", mnt], capture_output=True)
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(root):
            subprocess.run(["losetup", "-d", parts[0]], capture_output=True)


def loops_of(data: Path) -> list[str]:
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                         text=True).stdout
    return [line.split()[0] for line in out.splitlines() if str(data.resolve()) in line]
