"""The health prober beside the loop: a new instance is probed as soon as it starts, each
instance on its own (a hanging probe holds up no other), never once it is removed, and often
while starting, then every tenth of a second.

Rollouts wait on these probes, so each of these is time a deploy would otherwise spend waiting.
Driven through ``reconciler_support``; the few waits on the event loop are bounded loops.
"""

from __future__ import annotations

import asyncio
import contextlib

from platd.reconcile.health import ProbeResult
from platd.runtime.base import InstanceSpec
from platd.spec.manifest import HealthCheck
from tests.unit.reconciler_support import IMAGE_V1, Host, host, manifest, probe, run

__all__ = ["host"]  # the fixture, imported for the tests below


def test_a_started_container_is_probed_before_a_pass_lists_it(host: Host) -> None:
    """The rollout's wait for health starts when the container starts, not one pass and one
    prober round later: the pass that creates an instance is followed by the one that marks
    the release converged."""
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> None:
        prober = asyncio.create_task(rec._probe_loop())
        try:
            await asyncio.sleep(0)  # the prober starts
            await rec.pass_once()  # pulls, creates and starts the instance
            (container,) = host.running(release)
            for _ in range(200):  # bounded: the inspection and the probe run on the loop
                state = rec.ledger.health.get(container.id)
                if state is not None and state.status == "healthy":
                    break
                await asyncio.sleep(0.01)
            assert rec.passes == 1
            assert rec.ledger.health[container.id].status == "healthy"
            await rec.pass_once()
            assert host.status(release) == "converged"
        finally:
            prober.cancel()

    run(body)
    # Inspected while its "running" event is written, probed only after: the history keeps
    # its order.
    steps = [(e.step, e.outcome) for e in host.events(release_id=release)
             if (e.step, e.outcome) in (("create", "ok"), ("health", "ok"))]
    assert steps == [("create", "ok"), ("health", "ok")]


def test_a_probe_that_hangs_does_not_hold_up_the_probes_of_other_instances(host: Host) -> None:
    """Each instance is probed on its own: a probe waiting out its timeout (an address nobody
    answers at any more, an app that hangs) must not keep a new instance from turning healthy,
    or a rollout waits for it."""
    release = host.deploy(manifest(2), {"web": IMAGE_V1})
    rec = host.reconciler()
    stuck: list[str] = []  # the instance probed first: its probes never answer

    def hangs(spec: InstanceSpec) -> bool:
        stuck[:] = stuck or [spec.instance_id]
        return spec.instance_id == stuck[0]

    host.prober.hangs = hangs

    async def body() -> None:
        prober = asyncio.create_task(rec._probe_loop())
        try:
            await asyncio.sleep(0)  # the prober starts
            await rec.pass_once()  # creates and starts both instances
            for _ in range(200):  # bounded: the inspections run on the loop
                if stuck:
                    break
                await asyncio.sleep(0.01)
            (first,) = [c for c in host.running(release) if c.spec.instance_id in stuck]
            (second,) = [c for c in host.running(release) if c is not first]
            for _ in range(200):  # bounded: the inspections and probes run on the loop
                state = rec.ledger.health.get(second.id)
                if state is not None and state.status == "healthy":
                    break
                await asyncio.sleep(0.01)
            assert rec.ledger.health[second.id].status == "healthy"
            assert rec.ledger.health[first.id].status == "starting"
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

    run(body)


def test_a_probe_of_an_instance_removed_since_the_last_pass_is_not_sent(host: Host) -> None:
    """The prober looks at the last pass's list, which may still show an instance the executor
    has removed since; its address answers nobody, so probing it only costs a timeout."""
    release = host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()
    probed: list[str] = []
    answer = host.prober.__call__

    async def counting(check: HealthCheck, address: str, port: int) -> ProbeResult:
        probed.append(address)
        return await answer(check, address, port)

    rec._probe = counting

    async def body() -> None:
        await rec.pass_once()
        await rec.pass_once()  # lists the started instance
        (container,) = host.running(release)
        rec.ledger.removed.add(container.id)
        prober = asyncio.create_task(rec._probe_loop())
        try:
            for _ in range(5):
                await asyncio.sleep(0.01)
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

    run(body)
    assert probed == []


def test_a_starting_instance_is_probed_often_then_every_tenth_of_a_second(host: Host) -> None:
    host.prober.sick = lambda spec: True
    host.deploy(manifest(1), {"web": IMAGE_V1})
    rec = host.reconciler()

    async def body() -> list[float]:
        await rec.pass_once()
        await rec.pass_once()  # lists the started instance
        gaps = []
        for _ in range(32):
            host.clock.advance(0.5)
            await probe(rec)
            (state,) = rec.ledger.health.values()
            gaps.append(round(state.next_probe - host.clock.time(), 3))
        return gaps

    assert run(body) == [0.01] * 29 + [0.1] * 3
