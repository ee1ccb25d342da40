"""Fixtures for volume tests: daemons whose volumes (mounts, loop devices, images) are cleaned up.

platd leaves volumes mounted when it stops (instances keep running without it), so tests undo
that themselves: unmount everything under the data dir and detach its loop devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from volume_support import cleanup_volumes

from tests.conftest import Daemon, _remove_containers


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
def vdaemon(tmp_path: Path) -> Iterator[Daemon]:
    """platd with the fake runtime and real volumes."""
    yield from _volume_daemon(tmp_path, "fake")


@pytest.fixture
def docker_vdaemon(tmp_path: Path, docker_services: None) -> Iterator[Daemon]:
    """platd on the real Docker engine, with real volumes."""
    yield from _volume_daemon(tmp_path, "docker")
