"""Volumes of an env: create, list, describe, resize, snapshot, restore, delete.

Unlike deploys, volume operations are carried out during the request, on the volume's host: a
user who asks for 10G needs to know at once whether 10G were reserved, and a snapshot is only
worth its receipt once it was taken. The row is written after the host work succeeded (the
create's image is removed again if the write fails), and every operation records an event.
The reconciler only reads volumes: where each is mounted, to bind it into instances.

What "attached" means: the env's current release mounts the volume (``[[volumes]]``). Deleting
an attached volume is refused; rolling one back to a snapshot in place is refused while an
instance could use it (the workload's count is above 0 or an instance still exists).
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, InvalidInput, NotFound, PlatError
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest, VolumeMount
from platd.spec.names import check_name
from platd.spec.sizes import format_size
from platd.spec.volumes import (
    HostInfo,
    check_resize,
    parse_volume_size,
    place_volume,
    placement_reason,
    stop_first_reason,
    writable,
)
from platd.store import eventlog
from platd.store.db import Store
from platd.store.models import Instance, Release, Scale, Volume, VolumeSnapshot
from platd.store.queries import live_volumes, manifest_of
from platd.volumes.backend import VolumeBackend, VolumeIOError

MAX_VOLUMES_PER_ENV = 100


# --- reading rows ------------------------------------------------------------------------------


def _find(session: Session, ref: tenancy.EnvRef, name: str) -> Volume:
    for v in live_volumes(session, ref.env.id):
        if v.name == name:
            return v
    names = ", ".join(v.name for v in live_volumes(session, ref.env.id)) or "none"
    raise NotFound(f"no volume {name!r} in {ref.path} (volumes there: {names})",
                   hint=f"create it with: plat volumes create {name} --size 1G --target {ref.path}")


def _snapshots(session: Session, volume_id: str) -> list[VolumeSnapshot]:
    return list(session.exec(
        select(VolumeSnapshot)
        .where(VolumeSnapshot.volume_id == volume_id, VolumeSnapshot.deleted == False)  # noqa: E712
        .order_by(col(VolumeSnapshot.seq))
    ).all())


def _find_snapshot(
    session: Session, ref: tenancy.EnvRef, volume: Volume, text: str
) -> VolumeSnapshot:
    snaps = _snapshots(session, volume.id)
    wanted = text.removeprefix("snap-")
    found = [s for s in snaps if (wanted.isdigit() and s.seq == int(wanted))
             or (len(text) >= 8 and s.id.startswith(text))]
    if len(found) != 1:
        names = ", ".join(f"snap-{s.seq}" for s in snaps) or "none"
        raise NotFound(
            f"no snapshot {text!r} of volume {volume.name} (snapshots: {names})",
            hint=f"list them with: plat volumes snapshot list {volume.name} --target {ref.path}",
        )
    return found[0]


def _current_manifest(
    session: Session, ref: tenancy.EnvRef
) -> tuple[Release | None, Manifest | None]:
    if not ref.env.current_release_id:
        return None, None
    release = session.get(Release, ref.env.current_release_id)
    if release is None:
        return None, None
    return release, manifest_of(release)


def _count(session: Session, env_id: str, manifest: Manifest, workload: str) -> int:
    scale = session.exec(select(Scale).where(
        Scale.env_id == env_id, Scale.workload == workload, Scale.deleted == False  # noqa: E712
    )).first()
    if scale is not None and scale.count is not None:
        return scale.count
    w = manifest.workloads.get(workload)
    return w.count if w else 0


def _attachment(session: Session, ref: tenancy.EnvRef, name: str) -> dict[str, Any] | None:
    release, manifest = _current_manifest(session, ref)
    if release is None or manifest is None:
        return None
    mount = next((m for m in manifest.volumes if m.name == name), None)
    if mount is None:
        return None
    return {"workload": mount.workload, "mount": mount.mount, "read_only": mount.read_only,
            "release": f"v{release.seq}",
            "count": _count(session, ref.env.id, manifest, mount.workload)}


def _instances_of(session: Session, env_id: str, workload: str) -> list[Instance]:
    return [i for i in session.exec(select(Instance).where(
        Instance.env_id == env_id, Instance.workload == workload,
        Instance.deleted == False,  # noqa: E712
    )) if i.state not in ("gone", "pending")]


def _holders(session: Session, env_id: str, name: str) -> list[Instance]:
    """Instances that exist (any release) and whose release mounts volume ``name``."""
    alive = [i for i in session.exec(select(Instance).where(
        Instance.env_id == env_id, Instance.deleted == False,  # noqa: E712
    )) if i.state not in ("gone", "pending")]
    mounts: dict[str, set[str]] = {}
    for release_id in {i.release_id for i in alive}:
        release = session.get(Release, release_id)
        if release is not None:
            manifest = manifest_of(release)
            mounts[release_id] = {m.workload for m in manifest.volumes if m.name == name}
    return [i for i in alive if i.workload in mounts.get(i.release_id, set())]


def _host_of(volume: Volume, hosts: list[HostInfo]) -> HostInfo:
    return next((h for h in hosts if h.id == volume.host_id),
                HostInfo(volume.host_id, volume.host_id[-12:], {}))


def _local(volume: Volume, here: HostInfo, ref: tenancy.EnvRef) -> None:
    if volume.host_id != here.id:
        raise Conflict(
            f"volume {volume.name} lives on host {volume.host_id[-12:]}, not on this host "
            f"({here.name})",
            hint=f"run the command against that host's platd (--target {ref.path})")


def _io_error(e: VolumeIOError, what: str) -> PlatError:
    return PlatError(f"{what}: {e}", hint="see platd's log on the volume's host; nothing was "
                     "recorded as changed")


def _spare(ctx: ServiceContext) -> int:
    """What volumes and snapshots may still take: free space beyond ``disk_reserve``, which
    stays for the databases (and platd) to keep working."""
    return ctx.volumes.free_bytes() - ctx.limits.disk_reserve


def _refuse_unavailable(backend: VolumeBackend, name: str) -> None:
    if backend.unavailable:
        raise Conflict(
            f"cannot create volume {name}: this host cannot enforce a volume's size "
            f"({backend.unavailable})",
            hint="plat refuses sizes it cannot enforce rather than pretend; give platd root, "
            "loop devices, util-linux and xfsprogs (see docs/volumes.md)",
            details={"unavailable": backend.unavailable},
        )


# --- views -------------------------------------------------------------------------------------


def _snapshot_dict(s: VolumeSnapshot) -> dict[str, Any]:
    return {"id": s.id, "name": f"snap-{s.seq}", "seq": s.seq, "size": s.size,
            "size_label": format_size(s.size), "used": s.used, "seconds": round(s.seconds, 3),
            "created_at": s.created_at, "created_by": s.created_by}


def _volume_dict(session: Session, ctx: ServiceContext, ref: tenancy.EnvRef,
                 v: Volume) -> dict[str, Any]:
    backend = ctx.volumes
    host = _host_of(v, ctx.hosts)
    usage = backend.usage(v.id) if v.host_id == ctx.host.id else None
    attached = _attachment(session, ref, v.name)
    instances = _instances_of(session, ref.env.id, attached["workload"]) if attached else []
    snaps = _snapshots(session, v.id)
    t = f"--target {ref.path}"
    placement = None
    if attached:
        placement = placement_reason(
            attached["workload"], [VolumeMount(v.name, attached["workload"], attached["mount"])],
            host.name)
    return {
        "kind": "volume", "target": ref.path, "id": v.id, "name": v.name,
        "size": v.size, "size_label": format_size(v.size),
        "filesystem": backend.filesystem,
        "usage": None if usage is None else {
            "capacity": usage.capacity, "used": usage.used, "available": usage.available,
            "capacity_label": format_size(usage.capacity), "used_label": format_size(usage.used),
            "available_label": format_size(usage.available),
        },
        "mounted": usage is not None,
        "enforced": backend.unavailable is None,
        "unavailable": backend.unavailable,
        "host": {"id": host.id, "name": host.name, "labels": dict(host.labels)},
        "region": v.region,
        "attached": attached,
        "instances": [{"id": i.id, "state": i.state, "release_id": i.release_id}
                      for i in instances],
        "placement": placement,
        "snapshots": [_snapshot_dict(s) for s in snaps],
        "created_at": v.created_at, "created_by": v.created_by,
        "restored_from": v.source_snapshot_id,
        "commands": {
            "resize": f"plat volumes resize {v.name} --size SIZE {t}   (grow only, online)",
            "snapshot": f"plat volumes snapshot create {v.name} {t}",
            "snapshots": f"plat volumes snapshot list {v.name} {t}",
            "restore": f"plat volumes snapshot restore {v.name} SNAPSHOT [--as NEW_NAME] {t}",
            "delete": f"plat volumes delete {v.name} {t}",
        },
    }


# --- operations --------------------------------------------------------------------------------


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
        _refuse_duplicate(session, ref, name)
    chosen = place_volume(ctx.hosts, region=region, host=host, local=ctx.host.id)
    if chosen.id != ctx.host.id:
        # The disk is the other host's: it makes the volume (the API relays the request).
        raise OnAnotherHost(chosen)
    _refuse_unavailable(backend, name)
    ctx.require_room(f"creating volume {name}")
    parse_volume_size(size, free=_spare(ctx), reserve=ctx.limits.disk_reserve)
    volume_id = uuid7()
    started = time.monotonic()
    try:
        backend.create(volume_id, size_bytes)
    except VolumeIOError as e:
        raise _io_error(e, f"could not create volume {name}") from e
    try:
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            _refuse_duplicate(session, ref, name)
            volume = Volume(id=volume_id, env_id=ref.env.id, name=name, size=size_bytes,
                            host_id=chosen.id, region=region, created_at=ctx.clock.time(),
                            created_by=principal.name)
            session.add(volume)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name,
                          message=f"{principal.name} created volume {name} "
                          f"({format_size(size_bytes)}) on host {chosen.name}")
            session.flush()
            out = _volume_dict(session, ctx, ref, volume)
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


def _refuse_duplicate(session: Session, ref: tenancy.EnvRef, name: str) -> None:
    existing = live_volumes(session, ref.env.id)
    if any(v.name == name for v in existing):
        raise Conflict(f"volume {name} already exists in {ref.path}",
                       hint=[f"see it: plat volumes describe {name} --target {ref.path}",
                             "or pick another name"])
    if len(existing) >= MAX_VOLUMES_PER_ENV:
        raise Conflict(f"{ref.path} already has {len(existing)} volumes, the most an env may have",
                       hint="delete a volume you no longer need")


def list_volumes(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return {"target": ref.path, "unavailable": ctx.volumes.unavailable,
                "volumes": [_volume_dict(session, ctx, ref, v)
                            for v in live_volumes(session, ref.env.id)]}


def describe_volume(ctx: ServiceContext, principal: Principal, target: str,
                    name: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return _volume_dict(session, ctx, ref, _find(session, ref, name))


def resize_volume(ctx: ServiceContext, principal: Principal, target: str, name: str,
                  size: str | int) -> dict[str, Any]:
    new = parse_volume_size(size, minimum=1)  # a shrink is refused below, with its own words
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = _find(session, ref, name)
    _local(volume, ctx.host, ref)
    check_resize(name, volume.size, new)
    if new > volume.size:
        ctx.require_room(f"growing volume {name}")
    parse_volume_size(size, free=_spare(ctx) + volume.size, reserve=ctx.limits.disk_reserve)
    old = volume.size
    try:
        backend.resize(volume.id, new)
    except VolumeIOError as e:
        raise _io_error(e, f"could not grow volume {name}") from e
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
        out = _volume_dict(session, ctx, ref, row)
    return {**out, "action": "resize", "old_size": old, "old_size_label": format_size(old)}


def delete_volume(ctx: ServiceContext, principal: Principal, target: str,
                  name: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = _find(session, ref, name)
        attached = _attachment(session, ref, name)
        snaps = _snapshots(session, volume.id)
        holders = _holders(session, ref.env.id, name)
    if attached is None and holders:
        raise Conflict(
            f"volume {name} is still mounted by instance(s) "
            f"{', '.join(i.id for i in holders)} of an earlier release",
            hint=[f"wait until they are stopped (plat status --target {ref.path}), then delete "
                  "it again"],
            details={"instances": [i.id for i in holders]},
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
    _local(volume, ctx.host, ref)
    try:
        for s in snaps:
            backend.delete_snapshot(s.id)
        backend.delete(volume.id)
    except VolumeIOError as e:
        raise _io_error(e, f"could not delete volume {name}") from e
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


def create_snapshot(ctx: ServiceContext, principal: Principal, target: str,
                    name: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = _find(session, ref, name)
    _local(volume, ctx.host, ref)
    usage = backend.usage(volume.id)
    ctx.require_room(f"a snapshot of volume {name}")
    if _spare(ctx) < volume.size:
        raise Conflict(f"not enough free space on this host's data disk for a snapshot of "
                       f"{name} (it needs up to {format_size(volume.size)}, "
                       f"{format_size(max(_spare(ctx), 0))} is free beyond the "
                       f"{format_size(ctx.limits.disk_reserve)} reserve)",
                       hint=["delete old snapshots: plat volumes snapshot delete VOLUME SNAPSHOT",
                             "the reserve is disk_reserve in the host's platd.toml"])
    snapshot_id = uuid7()
    started = time.monotonic()
    try:
        backend.snapshot(volume.id, snapshot_id)
    except VolumeIOError as e:
        raise _io_error(e, f"could not snapshot volume {name}") from e
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
        out = _snapshot_dict(snap)
    return {**out, "action": "snapshot", "target": ref.path, "volume": name,
            "follow_ups": [
                f"plat volumes snapshot restore {name} snap-{seq} --target {ref.path}",
                f"plat volumes snapshot restore {name} snap-{seq} --as {name}-copy "
                f"--target {ref.path}",
            ]}


def list_snapshots(ctx: ServiceContext, principal: Principal, target: str,
                   name: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        volume = _find(session, ref, name)
        return {"target": ref.path, "volume": name,
                "snapshots": [_snapshot_dict(s) for s in _snapshots(session, volume.id)]}


def delete_snapshot(ctx: ServiceContext, principal: Principal, target: str, name: str,
                    snapshot: str) -> dict[str, Any]:
    store, backend = ctx.store, ctx.volumes
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        volume = _find(session, ref, name)
        snap = _find_snapshot(session, ref, volume, snapshot)
    _local(volume, ctx.host, ref)
    try:
        backend.delete_snapshot(snap.id)
    except VolumeIOError as e:
        raise _io_error(e, f"could not delete snapshot snap-{snap.seq}") from e
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
        volume = _find(session, ref, name)
        snap = _find_snapshot(session, ref, volume, snapshot)
        if as_name is not None:
            _refuse_duplicate(session, ref, as_name)
        else:
            _refuse_in_use(session, ref, name)
    _local(volume, ctx.host, ref)
    started = time.monotonic()
    if as_name is None:
        try:
            backend.restore(snap.id, volume.id, volume.size)
        except VolumeIOError as e:
            raise _io_error(e, f"could not restore volume {name}") from e
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name, message=f"{principal.name} rolled volume {name} "
                          f"back to snapshot snap-{snap.seq}")
            row = session.get(Volume, volume.id)
            assert row is not None
            out = _volume_dict(session, ctx, ref, row)
        return {**out, "action": "restore", "snapshot": f"snap-{snap.seq}",
                "seconds": round(time.monotonic() - started, 3)}
    _refuse_unavailable(backend, as_name)
    ctx.require_room(f"restoring a snapshot of volume {name}")
    if _spare(ctx) < volume.size:
        raise Conflict(f"not enough free space for a new {format_size(volume.size)} volume "
                       f"({format_size(max(_spare(ctx), 0))} is free beyond the "
                       f"{format_size(ctx.limits.disk_reserve)} reserve)",
                       hint="delete old snapshots or volumes first")
    new_id = uuid7()
    try:
        backend.restore(snap.id, new_id, snap.size)
    except VolumeIOError as e:
        backend.delete(new_id)
        raise _io_error(e, f"could not create volume {as_name} from snap-{snap.seq}") from e
    try:
        with store.write() as session:
            ref = tenancy.resolve_env(session, principal, target)
            _refuse_duplicate(session, ref, as_name)
            row = Volume(id=new_id, env_id=ref.env.id, name=as_name, size=snap.size,
                         host_id=volume.host_id, region=volume.region, created_at=ctx.clock.time(),
                         created_by=principal.name, source_snapshot_id=snap.id)
            session.add(row)
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="volume", outcome="ok",
                          actor=principal.name, message=f"{principal.name} created volume "
                          f"{as_name} from snapshot snap-{snap.seq} of {name}")
            session.flush()
            out = _volume_dict(session, ctx, ref, row)
    except BaseException:
        backend.delete(new_id)
        raise
    return {**out, "action": "restore_as", "snapshot": f"snap-{snap.seq}", "source": name,
            "seconds": round(time.monotonic() - started, 3)}


def _refuse_in_use(session: Session, ref: tenancy.EnvRef, name: str) -> None:
    attached = _attachment(session, ref, name)
    alive = _holders(session, ref.env.id, name)
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
