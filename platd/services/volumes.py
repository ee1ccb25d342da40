"""Volumes of an env: create, resize, delete; remount them when platd starts.

Unlike deploys, volume operations are carried out during the request, on the volume's host: a
user who asks for 10G needs to know at once whether 10G were reserved. The row is written
after the host work succeeded (the create's image is removed again if the write fails), and
every operation records an event. The reconciler only reads volumes: where each is mounted, to
bind it into instances.

Deleting an attached volume (``volumes_read.attachment``) is refused. Reading volumes is in
``volumes_read``, snapshots in ``volume_snapshots``, the checks both write paths make in
``volume_guards``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlmodel import select

from platd.auth.tokens import Principal
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.services.volume_guards import (
    io_error,
    refuse_duplicate,
    refuse_unavailable,
    require_local,
    spare,
)
from platd.services.volumes_read import attachment, find_volume, holders, snapshots_of, volume_dict
from platd.spec.errors import Conflict, InvalidInput
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest
from platd.spec.names import check_name
from platd.spec.sizes import format_size
from platd.spec.volumes import (
    HostInfo,
    check_resize,
    parse_volume_size,
    place_volume,
    stop_first_reason,
    writable,
)
from platd.store import eventlog
from platd.store.db import Store
from platd.store.models import Volume, VolumeSnapshot
from platd.volumes.backend import VolumeBackend, VolumeIOError


def create_volume(
    ctx: ServiceContext, principal: Principal, target: str, name: str, size: str | int, *,
    region: str | None = None, host: str | None = None,
) -> dict[str, Any]:
    check_name("volume", name)
    region = validate_region(region)
    size_bytes = parse_volume_size(size)
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        refuse_duplicate(session, ref, name)
    chosen = place_volume(ctx.hosts, region=region, host=host, local=ctx.host.id)
    if chosen.id != ctx.host.id:
        # The disk is the other host's: it makes the volume (the API relays the request).
        raise OnAnotherHost(chosen)
    refuse_unavailable(backend, name)
    ctx.require_room(f"creating volume {name}")
    parse_volume_size(size, free=spare(ctx), reserve=ctx.limits.disk_reserve)
    volume_id = uuid7()
    started = time.monotonic()
    try:
        backend.create(volume_id, size_bytes)
    except VolumeIOError as e:
        raise io_error(e, f"could not create volume {name}") from e
    try:
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            refuse_duplicate(session, ref, name)
            volume = Volume(id=volume_id, env_id=ref.env.id, name=name, size=size_bytes,
                            host_id=chosen.id, region=region, created_at=ctx.clock.time(),
                            created_by=principal.name)
            session.add(volume)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name,
                          message=f"{principal.name} created volume {name} "
                          f"({format_size(size_bytes)}) on host {chosen.name}")
            session.flush()
            out = volume_dict(session, ctx, ref, volume)
    except BaseException:
        backend.delete(volume_id)
        raise
    return {**out, "action": "create", "seconds": round(time.monotonic() - started, 3)}


class OnAnotherHost(Conflict):
    """The volume goes on another host of the cluster, which must make it; the API relays
    the request there (``platd.cluster.volume_relay``)."""

    def __init__(self, host: HostInfo) -> None:
        super().__init__(f"volume goes on host {host.name}, which must create it",
                         hint="ask that host's platd")
        self.host = host


def resize_volume(ctx: ServiceContext, principal: Principal, target: str, name: str,
                  size: str | int) -> dict[str, Any]:
    new = parse_volume_size(size, minimum=1)  # a shrink is refused below, with its own words
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = find_volume(session, ref, name)
    require_local(volume, ctx.host, ref)
    check_resize(name, volume.size, new)
    if new > volume.size:
        ctx.require_room(f"growing volume {name}")
    parse_volume_size(size, free=spare(ctx) + volume.size, reserve=ctx.limits.disk_reserve)
    old = volume.size
    try:
        backend.resize(volume.id, new)
    except VolumeIOError as e:
        raise io_error(e, f"could not grow volume {name}") from e
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        row = session.get(Volume, volume.id)
        assert row is not None
        row.size = new
        session.add(row)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                      actor=principal.name, message=f"{principal.name} grew volume {name} "
                      f"from {format_size(old)} to {format_size(new)} (online)")
        session.flush()
        out = volume_dict(session, ctx, ref, row)
    return {**out, "action": "resize", "old_size": old, "old_size_label": format_size(old)}


def delete_volume(ctx: ServiceContext, principal: Principal, target: str,
                  name: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = find_volume(session, ref, name)
        attached = attachment(session, ref, name)
        snaps = snapshots_of(session, volume.id)
        mounted_by = holders(session, ref.env.id, name)
    if attached is None and mounted_by:
        raise Conflict(
            f"volume {name} is still mounted by instance(s) "
            f"{', '.join(i.id for i in mounted_by)} of an earlier release",
            hint=[f"wait until they are stopped (plat status --target {ref.path}), then delete "
                  "it again"],
            details={"instances": [i.id for i in mounted_by]},
        )
    if attached is not None:
        raise Conflict(
            f"volume {name} is attached: release {attached['release']} mounts it on "
            f"{attached['workload']} at {attached['mount']}",
            hint=[f"deploy a manifest without the [[volumes]] entry for {name} first, then "
                  f"delete it: plat volumes delete {name} --target {ref.path}",
                  f"to keep a copy: plat volumes snapshot create {name} --target {ref.path}"],
            details={"attached": attached},
        )
    require_local(volume, ctx.host, ref)
    try:
        for s in snaps:
            backend.delete_snapshot(s.id)
        backend.delete(volume.id)
    except VolumeIOError as e:
        raise io_error(e, f"could not delete volume {name}") from e
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        rows = [session.get(Volume, volume.id), *(session.get(VolumeSnapshot, s.id) for s in snaps)]
        for row in rows:
            if row is not None:
                row.deleted = True
                session.add(row)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                      actor=principal.name, message=f"{principal.name} deleted volume {name} "
                      f"and its {len(snaps)} snapshot(s)")
    return {"action": "delete", "target": ref.path, "name": name, "id": volume.id,
            "snapshots_deleted": len(snaps)}


# --- what deploys, scale and status need ------------------------------------------------------


def stop_first_notes(manifest: Manifest, replacing: bool) -> list[dict[str, Any]]:
    """Workloads whose rollout is stop-first, and why, for receipts."""
    out = []
    for name in manifest.workloads:
        mounts = writable([m for m in manifest.volumes if m.workload == name])
        if mounts:
            out.append({"workload": name, "volumes": [m.name for m in mounts],
                        "replacing": replacing, "reason": stop_first_reason(name, mounts)})
    return out


def validate_region(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,63}", value):
        raise InvalidInput(f"invalid region {value!r}", hint="regions look like eu-west or local")
    return value


def reattach(store: Store, clock: Clock, backend: VolumeBackend) -> list[str]:
    """Mount this host's volumes again after platd or the host restarted; returns their names.

    Runs before the reconciler's first pass, so instances that mount a volume find it there.
    A volume that cannot be mounted is recorded as a failed event; its instances stay pending
    (their mount source does not exist) instead of getting an empty directory.
    """
    if backend.unavailable:
        return []
    with store.read() as session:
        rows = [v for v in session.exec(select(Volume).where(Volume.deleted == False))  # noqa: E712
                if v.host_id == store.host_id]
    done = []
    for v in rows:
        try:
            attached = backend.attach(v.id)
        except VolumeIOError as e:
            with store.write() as session:
                eventlog.record(session, clock, env_id=v.env_id, step="volume", outcome="failed",
                              category="runtime", message=f"could not mount volume {v.name}: {e}")
            continue
        if attached:
            done.append(v.name)
            with store.write() as session:
                eventlog.record(session, clock, env_id=v.env_id, step="volume", outcome="ok",
                              message=f"mounted volume {v.name} again (loop device and "
                              "filesystem) after a restart")
    return done
