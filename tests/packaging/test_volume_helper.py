"""platd-volume-helper runs the loop backend's privileged commands, and nothing else.

The helper is the one place where a sandboxed platd can reach mount(2) and loop devices, so what
matters is what it refuses: another tool, another shape of arguments, a path outside the volumes
directory (also through a symlink or ".."). It runs for real here, one JSON request on stdin as
the socket would pass it; the allowed command it executes is a read-only ``losetup -j``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HELPER = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "platd-volume-helper"


def ask(volumes: Path, request: Any) -> dict[str, Any]:
    line = request if isinstance(request, str) else json.dumps(request)
    r = subprocess.run(["/usr/bin/python3", str(HELPER)], input=line + "\n", capture_output=True,
                       text=True, timeout=30,
                       env={"PATH": os.environ["PATH"], "PLATD_VOLUMES_ROOT": str(volumes)})
    assert r.returncode == 0, r.stderr
    answer: dict[str, Any] = json.loads(r.stdout)
    return answer


@pytest.fixture
def volumes(tmp_path: Path) -> Path:
    root = tmp_path / "volumes"
    for sub in ("images", "snapshots", "mnt/v1"):
        (root / sub).mkdir(parents=True)
    (root / "images" / "v1.img").write_bytes(b"\0" * 4096)
    return root


@pytest.mark.skipif(shutil.which("losetup") is None, reason="losetup (util-linux) is missing")
def test_runs_an_allowed_command(volumes: Path) -> None:
    answer = ask(volumes, {"argv": ["losetup", "-j", str(volumes / "images" / "v1.img")]})
    assert answer["code"] == 0, answer
    assert answer["stdout"] == ""


@pytest.mark.parametrize("argv", [
    ["sh", "-c", "id"],
    ["losetup", "-j", "/etc/shadow"],
    ["losetup", "-j", "{v}/images/../../escape.img"],
    ["losetup", "-j", "{v}/images/link.img"],
    ["losetup", "-f", "--show", "{v}/images/v1.img", "--extra"],
    ["mount", "-t", "ext4", "-o", "nouuid", "/dev/loop0", "{v}/mnt/v1"],
    ["mount", "-t", "xfs", "-o", "nouuid", "/dev/sda1", "{v}/mnt/v1"],
    ["mount", "-t", "xfs", "-o", "nouuid", "/dev/loop0", "/"],
    ["umount", "/"],
    ["mkfs.xfs", "-q", "-f", "{v}/mnt/v1"],
    "not json",
    ["losetup", 1],
])
def test_refuses_everything_else(volumes: Path, argv: Any) -> None:
    (volumes / "images" / "link.img").symlink_to("/etc/passwd")
    if isinstance(argv, list):
        argv = [a.format(v=volumes) if isinstance(a, str) else a for a in argv]
        answer = ask(volumes, {"argv": argv})
    else:
        answer = ask(volumes, argv)
    assert answer["code"] in (2, 126), answer
    assert "platd-volume-helper: " in answer["stderr"]


def test_probe_says_what_is_missing(volumes: Path) -> None:
    answer = ask(volumes, {"probe": True})
    assert answer["code"] == 0
    expected = None if os.geteuid() == 0 and Path("/dev/loop-control").exists() and all(
        shutil.which(t) for t in ("losetup", "mkfs.xfs", "mount", "umount", "xfs_growfs",
                                  "fsfreeze")) else answer["unavailable"]
    assert answer["unavailable"] == expected
