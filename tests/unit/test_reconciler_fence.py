"""A fenced host (a cluster member cut off from most of the others) runs nothing, and the fence
lifting never lets it run what it read before the sync that lifted it.

Healed, a fenced host stays fenced until an anti-entropy round has brought what the others
placed meanwhile (``Membership.synced``). A pass that read the desired state before that round
merged the new assignments, and looked at the fence after it, would start the host's old slots
beside their replacements elsewhere (6 instances for 4 slots). Driven by hand through
``reconciler_support``; the sync is simulated where it can land: between the pass's read of the
desired state and its look at the fence.
"""

from __future__ import annotations

import pytest

from platd.reconcile import loop
from platd.reconcile.desired import load_desired
from platd.reconcile.loop import Reconciler
from platd.services import status
from platd.store.db import Store
from tests.unit.reconciler_support import (
    ADMIN,
    IMAGE_V1,
    TARGET,
    Host,
    converge,
    host,
    manifest,
    run,
    step,
)

__all__ = ["host"]  # the fixture, imported for the tests below


def test_a_pass_that_began_fenced_starts_nothing_when_a_sync_lifts_the_fence_during_it(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    fence = {"on": False}
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, fenced=lambda: fence["on"])
    release = host.deploy(manifest(2), {"web": IMAGE_V1})

    def read_then_sync(store: Store) -> object:
        # The desired state as it was (this host's two slots), then the sync lands: the
        # others moved those slots away (here: the workload scaled to 0 on this host of its
        # own) and the fence lifts, all before the pass looks at the fence.
        before = load_desired(store)
        status.scale(host.services, ADMIN, TARGET, "web", count=0, minimum=None,
                     maximum=None, cpu=None, memory=None)
        fence["on"] = False
        return before

    async def body() -> None:
        await converge(host, rec, release)
        assert len(host.running()) == 2
        fence["on"] = True  # cut off for half the grace: the others will run these
        await step(rec)
        assert host.running() == []
        creates = len(host.events(step="create", outcome="started"))

        monkeypatch.setattr(loop, "load_desired", read_then_sync)
        await step(rec)
        assert host.running() == [], "started its old slots beside their replacements"
        monkeypatch.setattr(loop, "load_desired", load_desired)
        await step(rec)  # the pass the lifted fence asks for plans from what the sync brought
        assert host.running() == []
        assert len(host.events(step="create", outcome="started")) == creates
        words = [e.message for e in host.events(step="fence")]
        assert words[-1] == "this host sees the cluster again: it runs what is placed on it"

    run(body)


def test_a_fence_that_closes_during_a_pass_stops_what_runs(host: Host) -> None:
    """The other way round: a pass that began unfenced and finds the fence up runs nothing."""
    fence = {"on": False}
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, fenced=lambda: fence["on"])
    release = host.deploy(manifest(2), {"web": IMAGE_V1})

    async def body() -> None:
        await converge(host, rec, release)
        real = host.fake.list_instances

        async def list_then_fence(host_id: str) -> object:
            fence["on"] = True
            return await real(host_id)

        host.fake.list_instances = list_then_fence  # type: ignore[method-assign]
        await step(rec)
        assert host.running() == []

    run(body)
