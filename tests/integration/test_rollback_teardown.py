"""A rollback made while the previous rollout's old instance is still being torn down, on the
real Docker engine: the teardown runs beside the rollback, never in front of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import (
    HELLO_V2,
    containers,
    manifest,
    ready_env,
    releases,
    running,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# As PID 1 without a handler, the shell ignores SIGTERM: `docker stop` waits out platd's whole
# stop timeout (10 s) before it kills the container.
STUBBORN = ["/bin/sh", "-c", "httpd -f -p 8080 -h /app/www & wait"]


def _state(container_id: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", container_id],
                          capture_output=True, text=True).stdout.strip() or "gone"


def test_a_rollback_turns_healthy_while_the_instance_replaced_before_is_still_stopping(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1, command=STUBBORN)))
    assert r.code == 0, r.err
    (first,) = running(d)
    v1 = releases(d)[0]
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=HELLO_V2, command=STUBBORN,
                                            name="v2.toml")))
    assert r.code == 0, r.err
    (second,) = [c for c in running(d) if c.id != first.id]

    # v2 converged, so the first v1 instance is being stopped; it ignores SIGTERM.
    r = d.plat("rollback", "v1")
    assert r.code == 0, r.err
    assert "converged" in r.out + r.err

    # The rollback converged on an instance of its own while the old v1 instance still runs
    # out its stop: that one is not counted as the rollback's, nor waited for.
    assert _state(first.id) == "running"
    serving = [c for c in running(d) if c.release == v1["id"] and c.id != first.id]
    assert len(serving) == 1
    # Both old instances go in the end (each after the stop timeout: SIGTERM is ignored).
    wait_for(lambda: {c.id for c in containers(d.host_id)} == {serving[0].id}, timeout=60)
    assert _state(second.id) == "gone"
