"""The built-in driver's worker processes: a worker that dies is replaced, and the replacement
serves the same listeners; meanwhile clients are never refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from platd.ingress.builtin_driver import BuiltinDriver
from platd.ingress.model import IngressConfig
from tests.endpoints.conftest import Backend, first_line, free_port
from tests.endpoints.test_conformance import listener


def listening_pids(port: int) -> set[int]:
    """Processes holding a listening socket on ``port`` (``ss -ltnp``)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return {int(part.split("=")[1]) for part in out.replace(",", " ").split()
            if part.startswith("pid=")}


def test_a_killed_worker_is_replaced_and_serves_again(backends: list[Backend],
                                                      tmp_path: Path) -> None:
    port = free_port()

    async def main() -> None:
        driver = BuiltinDriver(workers=2)
        await driver.start()
        try:
            await driver.apply(IngressConfig((listener(port, backends),)))
            [worker] = driver._procs
            assert listening_pids(port) == {os.getpid(), worker.pid}

            stop = asyncio.Event()
            failures: list[str] = []

            async def clients() -> int:
                n = 0
                while not stop.is_set():
                    try:
                        line = await asyncio.to_thread(first_line, "::1", port)
                        assert line in {"b0", "b1", "b2"}, line
                    except (OSError, AssertionError) as e:
                        failures.append(repr(e))
                    n += 1
                return n

            running = asyncio.create_task(clients())
            await asyncio.sleep(0.3)
            os.kill(worker.pid, signal.SIGKILL)
            for _ in range(200):  # the replacement waits 5 s: the dead one was young
                await asyncio.sleep(0.05)
                if driver.restarts == 1 and len(listening_pids(port)) == 2:
                    break
            stop.set()
            served = await running
            [replacement] = driver._procs
            assert replacement.pid != worker.pid
            assert listening_pids(port) == {os.getpid(), replacement.pid}, \
                "the new worker listens on what the dead one did"
            assert served > 20
            # Clients connect one at a time: only the one the worker held when it was killed
            # may be lost (closed, never refused); every other lands on a live process.
            assert len(failures) <= 1, f"{len(failures)} of {served} failed: {failures[:3]}"
            assert not any("Refused" in f for f in failures), failures

            # A later change reaches the replacement too: one backend only.
            await driver.apply(IngressConfig((listener(port, backends[:1]),)))
            seen = {await asyncio.to_thread(first_line, "::1", port) for _ in range(30)}
            assert seen == {"b0"}
        finally:
            await driver.close()
        assert listening_pids(port) == set(), "close stops the replacement as well"

    asyncio.run(main())
