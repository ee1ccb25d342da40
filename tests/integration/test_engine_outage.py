"""While the Docker engine does not answer, ``plat status`` says so instead of showing the
instances it last saw as running and healthy. The daemon reaches the (shared, never stopped)
engine through a socket proxy of this test; stopping the proxy is the outage."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, _remove_containers
from tests.integration.helpers import manifest, ready_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ENGINE = "/var/run/docker.sock"
PROXY = """
import asyncio, sys
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    finally:
        w.close()
async def handle(r, w):
    ur, uw = await asyncio.open_unix_connection(sys.argv[2])
    await asyncio.gather(pipe(r, uw), pipe(ur, w), return_exceptions=True)
async def main():
    server = await asyncio.start_unix_server(handle, sys.argv[1])
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


class SocketProxy:
    """A unix socket forwarding to the engine's, in a process (and session) of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return  # already forwarding
        self.path.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", PROXY, str(self.path), ENGINE],
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.path.exists():
            assert time.monotonic() < deadline, "the socket proxy did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only the proxy
            self.proc.wait()
        self.proc = None


@pytest.fixture
def proxied_daemon(tmp_path: Path, docker_services: None) -> Iterator[tuple[Daemon, SocketProxy]]:
    if not os.access(ENGINE, os.R_OK | os.W_OK):
        pytest.skip(f"{ENGINE} is not usable by this user")
    proxy = SocketProxy(tmp_path / "engine.sock")
    proxy.start()
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config", runtime="docker",
               docker_url=f"unix://{proxy.path}")
    d.init()
    d.start()
    try:
        yield d, proxy
    finally:
        proxy.start()  # let the daemon's stops reach the engine
        d.stop()
        proxy.stop()
        _remove_containers(d.host_id)


def _wait(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.3)


def test_status_says_the_engine_is_unreachable_instead_of_running_and_healthy(
    proxied_daemon: tuple[Daemon, SocketProxy], tmp_path: Path
) -> None:
    d, proxy = proxied_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1)))
    assert r.code == 0, r.err

    def web() -> dict[str, Any]:
        return dict(json.loads(d.plat("status", "--json").out)["workloads"][0])

    assert web()["healthy"] == 1
    proxy.stop()
    outage = time.time()

    def reported() -> dict[str, Any] | None:
        s = json.loads(d.plat("status", "--json").out)
        return s if s["engine_unreachable"] else None

    s = _wait("status to report the outage", reported)
    (down,) = s["engine_unreachable"]
    assert down["host"] == d.host_id
    assert down["reason"].startswith("engine unreachable since ")
    assert outage - 5 <= down["since"] <= time.time()
    (w,) = s["workloads"]
    assert (w["running"], w["healthy"], w["current"]) == (0, 0, 0)
    assert [(i["state"], i["health"]) for i in w["instances"]] == [("unknown", "unknown")]

    text = d.plat("status").out
    assert re.search(r"host \w+: engine unreachable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                     text), text
    assert "unknown" in text
    assert "engine unreachable since" in d.plat("events").out

    proxy.start()
    _wait("the instance to be seen running and healthy again",
          lambda: web()["healthy"] == 1, timeout=90)
    assert json.loads(d.plat("status", "--json").out)["engine_unreachable"] == []
    assert "engine unreachable" not in d.plat("status").out
