"""What a pass costs and what wakes one: an idle pass over a thousand converged workloads asks
the runtime for one list and does nothing else, and the engine's echo of the executor's own
starts and stops wakes no extra pass (a crash still does).

Driven by hand through ``reconciler_support``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from platd.runtime.base import HostCapacity, RuntimeEvent
from platd.spec.manifest import DEFAULT_MIN_READY
from tests.unit.reconciler_support import (
    GIB,
    IMAGE_V1,
    IMAGE_V2,
    Host,
    converge,
    host,
    manifest,
    run,
    step,
)

__all__ = ["host"]  # the fixture, imported for the tests below


def test_an_idle_pass_over_a_thousand_workloads(tmp_path: Path, host: Host) -> None:
    names = [f"w{n:04d}" for n in range(1000)]
    # The env has GREETING set (the fixture): declared, or the gate refuses mystery config.
    text = 'app = "hello"\n[env]\noptional = ["GREETING"]\n' + "".join(
        f'\n[workloads.{name}]\nimage = "127.0.0.1:5000/hello:v1"\ncount = 1\n'
        f'cpu = 0.01\nmemory = "8M"\n'
        for name in names
    )
    host.fake.host_capacity = HostCapacity(cpus=64.0, memory=64 * GIB)
    release = host.deploy(text, dict.fromkeys(names, IMAGE_V1))
    rec = host.reconciler()

    async def body() -> None:
        await step(rec)
        host.clock.advance(DEFAULT_MIN_READY)
        await step(rec)
        assert host.status(release) == "converged"
        before = len(host.fake.calls)
        await rec.pass_once()  # the idle pass
        assert host.fake.calls[before:] == [("list_instances", host.store.host_id)]

    run(body)
    assert len(host.running(release)) == 1000


def test_the_engine_echoing_the_executors_own_starts_and_stops_wakes_no_pass(
    host: Host,
) -> None:
    """A rollout's starts and the old instances' stops are the executor's own doing and wake
    their pass themselves; the engine's events about them must not wake more passes (each
    one held the rollout up while it ran). A crash is news and wakes one."""
    rec = host.reconciler()
    heard: list[tuple[str, bool]] = []  # (action, woke a pass) per event the watcher read
    caused_here = rec._caused_here

    def deciding(event: RuntimeEvent) -> bool:
        echo = caused_here(event)
        heard.append((event.action, not echo))
        return echo

    rec._caused_here = deciding  # type: ignore[method-assign]

    async def body() -> None:
        watcher = asyncio.create_task(rec._watch_runtime())
        try:
            v1 = host.deploy(manifest(2), {"web": IMAGE_V1})
            await converge(host, rec, v1)
            v2 = host.deploy(manifest(2), {"web": IMAGE_V2})
            await converge(host, rec, v2)
            await asyncio.sleep(0.05)  # the watcher reads every event queued so far
            assert host.containers(v1) == []
            assert len(host.running(v2)) == 2
            # Four starts, and the die, stop and destroy of each of the two old instances.
            assert sorted(heard) == sorted([("start", False)] * 4
                                           + [("die", False), ("stop", False),
                                              ("destroy", False)] * 2)
            host.fake.crash(host.running(v2)[0].id, exit_code=2)
            await asyncio.sleep(0.05)
            assert heard[-1] == ("die", True)
        finally:
            watcher.cancel()

    run(body)
