"""A full data disk under a real ``platd serve`` driving the real Docker engine: a container
that dies while not a byte is free is restarted (the engine needs nothing from the data disk),
platd stays up, and what it could not record it records once there is room."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import deploy, env_url, make_env, satisfy_gate, wait_converged
from daemon_support import Daemon

from tests.conftest import _remove_containers
from tests.disk.disk_support import fill, free_bytes, small_fs

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _running(host_id: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=dev.plat.host={host_id}"],
        capture_output=True, text=True, check=True).stdout.split()


def _until(check: Any, what: str, d: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {d.log()[-3000:]}"
        time.sleep(0.3)
    return value


def test_a_crash_on_a_full_disk_is_restarted_and_recorded_later(
        tmp_path: Path, docker_services: None) -> None:
    with small_fs(tmp_path / "fs") as fs:
        d = Daemon(data=fs / "data", config_dir=tmp_path / "config", runtime="docker")
        try:
            d.init()
            (d.data / "platd.toml").write_text('disk_min_free = "20M"\n')
            d.start()
            target = make_env(d)
            satisfy_gate(d, target)
            status, body = deploy(d, target)
            assert status == 201, body
            wait_converged(d, target, timeout=120)
            assert len(_running(d.host_id)) == 2
            fill(fs / "filler")
            # platd looks at the disk at most once a second; seeing it full, it gives its
            # ballast back ...
            _until(lambda: d.api("GET", env_url(target, "/status"))[1]["disk"]["full"],
                   "platd to see the disk full", d)
            assert not (d.data / "ballast").exists()
            fill(fs / "filler-2")  # ... and that is taken too
            assert free_bytes(fs) < 64 * 1024

            victim = _running(d.host_id)[0]
            subprocess.run(["docker", "kill", victim], capture_output=True, check=True)
            _until(lambda: len(_running(d.host_id)) == 2 and victim in _running(d.host_id),
                   "the killed container to be restarted", d)
            time.sleep(2)
            assert d.proc is not None
            assert d.proc.poll() is None, d.log()[-3000:]
            assert "Traceback" not in d.log()

            (fs / "filler-2").unlink()
            (fs / "filler").unlink()

            def recorded() -> bool:
                _, s = d.api("GET", env_url(target, "/status"))
                return sum(i["restarts"] for w in s["workloads"] for i in w["instances"]) >= 1

            _until(recorded, "the restart to be recorded once there is room", d)
        finally:
            d.stop()
            _remove_containers(d.host_id)
