"""The checks volume and snapshot writes share, made before the host's disk is touched.

A write runs on the volume's own host, needs room beyond ``disk_reserve``, a backend that can
enforce a size, and a free name; a failed command on the host becomes one error that says
nothing was recorded. Both ``volumes`` and ``volume_snapshots`` refuse through here so the
same situation gets the same words.
"""

from __future__ import annotations

from sqlmodel import Session

from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, PlatError
from platd.spec.volumes import HostInfo
from platd.store.models import Volume
from platd.store.queries import live_volumes
from platd.volumes.backend import VolumeBackend, VolumeIOError

MAX_VOLUMES_PER_ENV = 100


def require_local(volume: Volume, here: HostInfo, ref: tenancy.EnvRef) -> None:
    if volume.host_id != here.id:
        raise Conflict(
            f"volume {volume.name} lives on host {volume.host_id[-12:]}, not on this host "
            f"({here.name})",
            hint=f"run the command against that host's platd (--target {ref.path})")


def io_error(e: VolumeIOError, what: str) -> PlatError:
    return PlatError(f"{what}: {e}", hint="see platd's log on the volume's host; nothing was "
                     "recorded as changed")


def spare(ctx: ServiceContext) -> int:
    """What volumes and snapshots may still take: free space beyond ``disk_reserve``, which
    stays for the databases (and platd) to keep working."""
    return ctx.volumes.free_bytes() - ctx.limits.disk_reserve


def refuse_unavailable(backend: VolumeBackend, name: str) -> None:
    if backend.unavailable:
        raise Conflict(
            f"cannot create volume {name}: this host cannot enforce a volume's size "
            f"({backend.unavailable})",
            hint="plat refuses sizes it cannot enforce rather than pretend; give platd root, "
            "loop devices, util-linux and xfsprogs (see docs/volumes.md)",
            details={"unavailable": backend.unavailable},
        )


def refuse_duplicate(session: Session, ref: tenancy.EnvRef, name: str) -> None:
    existing = live_volumes(session, ref.env.id)
    if any(v.name == name for v in existing):
        raise Conflict(f"volume {name} already exists in {ref.path}",
                       hint=[f"see it: plat volumes describe {name} --target {ref.path}",
                             "or pick another name"])
    if len(existing) >= MAX_VOLUMES_PER_ENV:
        raise Conflict(f"{ref.path} already has {len(existing)} volumes, the most an env may have",
                       hint="delete a volume you no longer need")
