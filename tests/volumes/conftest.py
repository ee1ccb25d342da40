"""Fixtures for volume tests: daemons whose volumes (mounts, loop devices, images) are cleaned up.

platd leaves volumes mounted when it stops (instances keep running without it), so tests undo
that themselves: unmount everything under the data dir and detach its loop devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from volume_support import cleanup_volumes

from tests.conftest import Daemon, _remove_containers
from tests.daemon_support import start_daemon, stop_daemon


def _volume_daemon(tmp_path: Path, runtime: str) -> Iterator[Daemon]:
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config", runtime=runtime)
    d.init()
    d.start()
    try:
        yield d
    finally:
        d.stop()
        _remove_containers(d.host_id)
        cleanup_volumes(d.data)


@pytest.fixture
def vdaemon(tmp_path: Path) -> Iterator[Any]:
    """platd with the fake runtime and real volumes (in this process)."""
    d = start_daemon(tmp_path)
    try:
        yield d
    finally:
        stop_daemon(d)
        cleanup_volumes(d.data)


@pytest.fixture
def docker_vdaemon(tmp_path: Path, docker_services: None) -> Iterator[Daemon]:
    """platd on the real Docker engine, with real volumes."""
    yield from _volume_daemon(tmp_path, "docker")
