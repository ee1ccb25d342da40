"""Moving an env's release pointer: the one write that deploy, retry and rollback share.

Whatever moved it, the same things happen in the same transaction: a new rollout generation
(``EnvChange``), the history event (and the previous rollout's "superseded" if it had not
converged), endpoints synced to the release's manifest and placement redone, so no host ever
sees a release without its endpoints or unplaced. The receipt it returns is what the CLI prints.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from platd.auth.tokens import Principal
from platd.services import endpoints as endpoint_service
from platd.services import placement, tenancy
from platd.services.context import ServiceContext
from platd.services.releases_read import describe, release_diff, release_status
from platd.services.volumes import stop_first_notes
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest
from platd.spec.sizes import format_size
from platd.store import eventlog
from platd.store.models import EnvChange, Release
from platd.store.queries import live_scales, manifest_of


def move_pointer(
    session: Session,
    ctx: ServiceContext,
    principal: Principal,
    ref: tenancy.EnvRef,
    action: str,
    target: Release,
    previous: Release | None,
) -> dict[str, Any]:
    diff = release_diff(session, previous, target)
    env = ref.env
    unfinished = previous is not None and previous.id != target.id and release_status(
        session, previous, env)["status"] in ("pending", "rolling")
    change_id = uuid7()
    # A release rolled back to (or retried) starts a fresh rollout: verdicts of earlier
    # generations (ReleaseState.change_id) no longer hold, and nothing is deleted.
    env.current_release_id, env.current_change_id = target.id, change_id
    session.add(env)
    session.add(
        EnvChange(
            id=change_id,
            env_id=env.id,
            action=action,
            release_id=target.id,
            previous_release_id=previous.id if previous else None,
            at=ctx.clock.time(),
            by=principal.name,
        )
    )
    verb = {"deploy": "created and deployed", "retry": "retried"}.get(action, "rolled back to")
    if unfinished and previous is not None:
        # Whoever follows the previous rollout learns at once that it will never conclude.
        eventlog.record(
            session, ctx.clock, env_id=env.id, release_id=previous.id, step="rollout",
            outcome="superseded", actor=principal.name,
            message=f"release v{previous.seq} was superseded by v{target.seq} before it "
            f"converged: {principal.name} {verb} v{target.seq}",
        )
    what = f"release v{target.seq}"
    if previous is not None and previous.id != target.id:
        what += f" (was v{previous.seq})"
    event = eventlog.record(
        session,
        ctx.clock,
        env_id=env.id,
        release_id=target.id,
        step=action,
        outcome="ok",
        message=f"{principal.name} {verb} {what}",
        actor=principal.name,
    )
    # Endpoints follow the release: a refused one (port taken, empty pool) refuses the change.
    endpoint_notes = endpoint_service.sync_manifest(
        session, ctx, ref, manifest_of(target), principal.name
    )
    session.flush()
    # Which host runs each instance, in the same commit: no host sees the release unplaced.
    placement.replace(session, ctx.clock, ctx.membership, actor=principal.name)
    stop_first = stop_first_of(target, replacing=previous is not None)
    return {
        "notes": _scale_notes(session, env.id, manifest_of(target)) + endpoint_notes
        + _readiness_notes(manifest_of(target)),
        "stop_first": stop_first,
        "event_cursor": (event.seq or 1) - 1,
        "action": action,
        "target": ref.path,
        "release": describe(session, target, env),
        "previous_release": {"id": previous.id, "seq": previous.seq} if previous else None,
        "diff": diff,
        "follow_ups": [
            f"plat wait {target.id} --target {ref.path}",
            f"plat events --release {target.id} --target {ref.path}",
            f"plat status --target {ref.path}",
        ],
    }


def stop_first_of(release: Release, replacing: bool = True) -> list[dict[str, Any]]:
    """The receipt's word on workloads replaced stop-first because they mount a volume."""
    return stop_first_notes(manifest_of(release), replacing=replacing)


def _scale_notes(session: Session, env_id: str, manifest: Manifest) -> list[str]:
    """Where env-level scale (plat scale) overrides what the manifest says."""
    notes = []
    for s in live_scales(session, env_id).values():
        w = manifest.workloads.get(s.workload)
        if w is None:
            continue
        for field, value, declared in (
            ("count", s.count, w.count),
            ("cpu", s.cpu, w.cpu),
            ("memory", s.memory, w.memory),
        ):
            if value is not None and value != declared:
                shown = format_size(int(value)) if field == "memory" else f"{value:g}"
                notes.append(
                    f"{s.workload} keeps {field} {shown} set by `plat scale`, not the "
                    f"manifest's {format_size(int(declared)) if field == 'memory' else declared}"
                    f" (follow the manifest again: plat scale {s.workload} --reset)"
                )
    return notes


def _readiness_notes(manifest: Manifest) -> list[str]:
    """Why a workload without a health check takes min_ready to converge, said up front."""
    return [
        f"{w.name} has no health check: each instance counts as ready after staying up "
        f"{w.ready_after:g}s (min_ready); a health check is faster and surer "
        f"([workloads.{w.name}.health]), or set min_ready"
        for w in manifest.workloads.values()
        if w.health is None and w.min_ready is None and w.count > 0
    ]
