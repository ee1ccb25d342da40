"""Reading volumes: finding a volume or snapshot by what a person types, what mounts it, and the
dicts that list, describe and every volume receipt return; no writes.

What "attached" means is decided here (``attachment``): the env's current release mounts the
volume (``[[volumes]]``). ``holders`` are the instances of any release that still mount it.
The writes (``volumes``, ``volume_snapshots``) refuse on these same answers, so a refusal and a
describe never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import NotFound
from platd.spec.manifest import Manifest, VolumeMount
from platd.spec.sizes import format_size
from platd.spec.volumes import HostInfo, placement_reason
from platd.store.models import Instance, Release, Scale, Volume, VolumeSnapshot
from platd.store.queries import live_volumes, manifest_of

# --- reading rows ------------------------------------------------------------------------------


def find_volume(session: Session, ref: tenancy.EnvRef, name: str) -> Volume:
    for v in live_volumes(session, ref.env.id):
        if v.name == name:
            return v
    names = ", ".join(v.name for v in live_volumes(session, ref.env.id)) or "none"
    raise NotFound(f"no volume {name!r} in {ref.path} (volumes there: {names})",
                   hint=f"create it with: plat volumes create {name} --size 1G --target {ref.path}")


def snapshots_of(session: Session, volume_id: str) -> list[VolumeSnapshot]:
    return list(session.exec(
        select(VolumeSnapshot)
        .where(VolumeSnapshot.volume_id == volume_id, VolumeSnapshot.deleted == False)  # noqa: E712
        .order_by(col(VolumeSnapshot.seq))
    ).all())


def find_snapshot(
    session: Session, ref: tenancy.EnvRef, volume: Volume, text: str
) -> VolumeSnapshot:
    snaps = snapshots_of(session, volume.id)
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


def attachment(session: Session, ref: tenancy.EnvRef, name: str) -> dict[str, Any] | None:
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


def holders(session: Session, env_id: str, name: str) -> list[Instance]:
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


# --- views -------------------------------------------------------------------------------------


def snapshot_dict(s: VolumeSnapshot) -> dict[str, Any]:
    return {"id": s.id, "name": f"snap-{s.seq}", "seq": s.seq, "size": s.size,
            "size_label": format_size(s.size), "used": s.used, "seconds": round(s.seconds, 3),
            "created_at": s.created_at, "created_by": s.created_by}


def volume_dict(session: Session, ctx: ServiceContext, ref: tenancy.EnvRef,
                v: Volume) -> dict[str, Any]:
    backend = ctx.volumes
    host = _host_of(v, ctx.hosts)
    usage = backend.usage(v.id) if v.host_id == ctx.host.id else None
    attached = attachment(session, ref, v.name)
    instances = _instances_of(session, ref.env.id, attached["workload"]) if attached else []
    snaps = snapshots_of(session, v.id)
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
        "snapshots": [snapshot_dict(s) for s in snaps],
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


# --- the reads a user asks for -----------------------------------------------------------------


def list_volumes(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return {"target": ref.path, "unavailable": ctx.volumes.unavailable,
                "volumes": [volume_dict(session, ctx, ref, v)
                            for v in live_volumes(session, ref.env.id)]}


def describe_volume(ctx: ServiceContext, principal: Principal, target: str,
                    name: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return volume_dict(session, ctx, ref, find_volume(session, ref, name))


def list_snapshots(ctx: ServiceContext, principal: Principal, target: str,
                   name: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        volume = find_volume(session, ref, name)
        return {"target": ref.path, "volume": name,
                "snapshots": [snapshot_dict(s) for s in snapshots_of(session, volume.id)]}
