"""Envs prepared before their first deploy: a host of its own prepares each new env once (so
the first deploy does not wait for it) and undoes it when the env goes; the store's listener
tells the next pass; a cluster member prepares nothing ahead.

Driven by hand through ``reconciler_support``.
"""

from __future__ import annotations

import asyncio

from platd.reconcile.loop import Reconciler
from platd.services import tenancy
from tests.unit.reconciler_support import ADMIN, IMAGE_V1, Host, host, manifest, run

__all__ = ["host"]  # the fixture, imported for the tests below


def test_a_host_of_its_own_prepares_each_new_env_once_and_undoes_it_when_the_env_goes(
    host: Host,
) -> None:
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, prepare_envs=True)
    other = "acme/shop/hello/staging"

    async def body() -> None:
        await rec.pass_once()
        await asyncio.sleep(0)  # preparations run beside the pass
        assert host.fake.prepared_envs == [host.env_id]
        await rec.pass_once()
        assert host.fake.prepared_envs == [host.env_id], "prepared once"
        staging = tenancy.create(host.services, ADMIN, "env", other)
        rec._tenancy_changed = True  # what the store's listener sets on that commit (below)
        await rec.pass_once()
        await asyncio.sleep(0)
        assert host.fake.prepared_envs == [host.env_id, staging["id"]]
        host.deploy(manifest(1), {"web": IMAGE_V1})  # deployed: nothing to undo
        rec._tenancy_changed = True
        await rec.pass_once()
        assert host.fake.released_envs == []
        tenancy.delete(host.services, ADMIN, "env", other)
        rec._tenancy_changed = True
        await rec.pass_once()
        assert host.fake.released_envs == [staging["id"]]

    run(body)


def test_the_store_listener_marks_tenancy_changes_for_the_next_pass(host: Host) -> None:
    rec = Reconciler(host.store, host.fake, host.box, host.secrets_root, clock=host.clock,
                     prober=host.prober, prepare_envs=True)

    async def body() -> None:
        await rec.pass_once()
        assert rec._tenancy_changed is False
        host.store.listeners.append(rec.poke)
        tenancy.create(host.services, ADMIN, "env", "acme/shop/hello/qa")
        assert rec._tenancy_changed is True
        await rec.pass_once()
        await asyncio.sleep(0)
        assert len(host.fake.prepared_envs) == 2

    run(body)


def test_a_cluster_member_prepares_no_env_ahead(host: Host) -> None:
    rec = host.reconciler()
    run(rec.pass_once)
    assert host.fake.prepared_envs == []
