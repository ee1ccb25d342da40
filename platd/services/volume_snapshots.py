"""Snapshots of a volume: take, delete, and restore one in place or into a new volume.

A snapshot is taken during the request on the volume's host (writes are frozen meanwhile), and
its receipt is only given once it exists. Rolling a volume back in place is refused while an
instance could use it (the workload's count is above 0 or an instance still exists), because
the files would change under a running program; restoring into a new volume is always allowed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import Session, select

from platd.auth.tokens import Principal
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.services.volume_guards import (
    io_error,
    refuse_duplicate,
    refuse_unavailable,
    require_local,
    spare,
)
from platd.services.volumes_read import (
    attachment,
    find_snapshot,
    find_volume,
    holders,
    snapshot_dict,
    volume_dict,
)
from platd.spec.errors import Conflict
from platd.spec.ids import uuid7
from platd.spec.names import check_name
from platd.spec.sizes import format_size
from platd.store import eventlog
from platd.store.models import Volume, VolumeSnapshot
from platd.volumes.backend import VolumeIOError


def create_snapshot(ctx: ServiceContext, principal: Principal, target: str,
                    name: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = find_volume(session, ref, name)
    require_local(volume, ctx.host, ref)
    usage = backend.usage(volume.id)
    ctx.require_room(f"a snapshot of volume {name}")
    if spare(ctx) < volume.size:
        raise Conflict(f"not enough free space on this host's data disk for a snapshot of "
                       f"{name} (it needs up to {format_size(volume.size)}, "
                       f"{format_size(max(spare(ctx), 0))} is free beyond the "
                       f"{format_size(ctx.limits.disk_reserve)} reserve)",
                       hint=["delete old snapshots: plat volumes snapshot delete VOLUME SNAPSHOT",
                             "the reserve is disk_reserve in the host's platd.toml"])
    snapshot_id = uuid7()
    started = time.monotonic()
    try:
        backend.snapshot(volume.id, snapshot_id)
    except VolumeIOError as e:
        raise io_error(e, f"could not snapshot volume {name}") from e
    seconds = time.monotonic() - started
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        seq = max((s.seq for s in session.exec(
            select(VolumeSnapshot).where(VolumeSnapshot.volume_id == volume.id))), default=0) + 1
        snap = VolumeSnapshot(id=snapshot_id, volume_id=volume.id, seq=seq, size=volume.size,
                              used=usage.used if usage else 0, seconds=seconds,
                              created_at=ctx.clock.time(), created_by=principal.name)
        session.add(snap)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                      actor=principal.name, message=f"{principal.name} took snapshot snap-{seq} "
                      f"of volume {name} in {seconds:.2f}s (writes were frozen meanwhile)")
        session.flush()
        out = snapshot_dict(snap)
    return {**out, "action": "snapshot", "target": ref.path, "volume": name,
            "follow_ups": [
                f"plat volumes snapshot restore {name} snap-{seq} --target {ref.path}",
                f"plat volumes snapshot restore {name} snap-{seq} --as {name}-copy "
                f"--target {ref.path}",
            ]}


def delete_snapshot(ctx: ServiceContext, principal: Principal, target: str, name: str,
                    snapshot: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = find_volume(session, ref, name)
        snap = find_snapshot(session, ref, volume, snapshot)
    require_local(volume, ctx.host, ref)
    try:
        backend.delete_snapshot(snap.id)
    except VolumeIOError as e:
        raise io_error(e, f"could not delete snapshot snap-{snap.seq}") from e
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        row = session.get(VolumeSnapshot, snap.id)
        assert row is not None
        row.deleted = True
        session.add(row)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                      actor=principal.name,
                      message=f"{principal.name} deleted snapshot snap-{snap.seq} of volume {name}")
    return {"action": "delete_snapshot", "target": ref.path, "volume": name,
            "snapshot": f"snap-{snap.seq}", "id": snap.id}


def restore_snapshot(ctx: ServiceContext, principal: Principal, target: str, name: str,
                     snapshot: str, as_name: str | None = None) -> dict[str, Any]:
    """Roll ``name`` back to ``snapshot`` (nothing may be using it), or make a new volume."""
    if as_name is not None:
        check_name("volume", as_name)
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = find_volume(session, ref, name)
        snap = find_snapshot(session, ref, volume, snapshot)
        if as_name is not None:
            refuse_duplicate(session, ref, as_name)
        else:
            _refuse_in_use(session, ref, name)
    require_local(volume, ctx.host, ref)
    started = time.monotonic()
    if as_name is None:
        try:
            backend.restore(snap.id, volume.id, volume.size)
        except VolumeIOError as e:
            raise io_error(e, f"could not restore volume {name}") from e
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name, message=f"{principal.name} rolled volume {name} "
                          f"back to snapshot snap-{snap.seq}")
            row = session.get(Volume, volume.id)
            assert row is not None
            out = volume_dict(session, ctx, ref, row)
        return {**out, "action": "restore", "snapshot": f"snap-{snap.seq}",
                "seconds": round(time.monotonic() - started, 3)}
    refuse_unavailable(backend, as_name)
    ctx.require_room(f"restoring a snapshot of volume {name}")
    if spare(ctx) < volume.size:
        raise Conflict(f"not enough free space for a new {format_size(volume.size)} volume "
                       f"({format_size(max(spare(ctx), 0))} is free beyond the "
                       f"{format_size(ctx.limits.disk_reserve)} reserve)",
                       hint="delete old snapshots or volumes first")
    new_id = uuid7()
    try:
        backend.restore(snap.id, new_id, snap.size)
    except VolumeIOError as e:
        backend.delete(new_id)
        raise io_error(e, f"could not create volume {as_name} from snap-{snap.seq}") from e
    try:
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            refuse_duplicate(session, ref, as_name)
            row = Volume(id=new_id, env_id=ref.env.id, name=as_name, size=snap.size,
                         host_id=volume.host_id, region=volume.region, created_at=ctx.clock.time(),
                         created_by=principal.name, source_snapshot_id=snap.id)
            session.add(row)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name, message=f"{principal.name} created volume "
                          f"{as_name} from snapshot snap-{snap.seq} of {name}")
            session.flush()
            out = volume_dict(session, ctx, ref, row)
    except BaseException:
        backend.delete(new_id)
        raise
    return {**out, "action": "restore_as", "snapshot": f"snap-{snap.seq}", "source": name,
            "seconds": round(time.monotonic() - started, 3)}


def _refuse_in_use(session: Session, ref: tenancy.EnvRef, name: str) -> None:
    attached = attachment(session, ref, name)
    alive = holders(session, ref.env.id, name)
    if attached is None:
        if alive:
            raise Conflict(
                f"volume {name} is still mounted by instance(s) "
                f"{', '.join(i.id for i in alive)} of an earlier release",
                hint=f"wait until they are stopped (plat status --target {ref.path})")
        return
    if attached["count"] == 0 and not alive:
        return
    w, t = attached["workload"], f"--target {ref.path}"
    raise Conflict(
        f"volume {name} is in use: {w} mounts it at {attached['mount']} "
        f"(count {attached['count']}, {len(alive)} instance(s))",
        hint=["a volume is rolled back only while nothing is attached; stop its workload first:",
              f"  plat scale {w} --count 0 {t}",
              f"  plat volumes snapshot restore {name} SNAPSHOT {t}",
              f"  plat scale {w} --count 1 {t}",
              f"or restore into a new volume: plat volumes snapshot restore {name} SNAPSHOT "
              f"--as NEW_NAME {t}"],
        details={"attached": attached, "instances": [i.id for i in alive]},
    )
