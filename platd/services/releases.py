"""Releases: created by deploy, pointed at by the env, never edited; rollback moves the pointer.

``deploy`` is two steps around one slow call: ``prepare_deploy`` parses the manifest and checks
the config gate (nothing written), image tags are resolved to digests in their registry
(concurrently, outside any transaction), and ``commit_deploy`` writes the release, moves the
env's pointer and records the history in one transaction, checking the gate again in case config
changed in between.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import config as config_service
from platd.services import endpoints as endpoint_service
from platd.services import placement, tenancy
from platd.services.context import ServiceContext
from platd.services.volumes import stop_first_notes
from platd.spec.diff import diff_releases
from platd.spec.errors import Conflict, InvalidInput, NotFound, Superseded
from platd.spec.gate import check_gate, gate_error, optional_keys
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest, parse_manifest
from platd.spec.runtime_rules import image_problem
from platd.spec.sizes import format_size
from platd.spec.volumes import check_volumes
from platd.store import eventlog
from platd.store.models import (
    ConfigVersion,
    Env,
    EnvChange,
    Event,
    Release,
    ReleaseState,
    SecretVersion,
)
from platd.store.queries import (
    RolloutMarks,
    config_version_numbers,
    live_scales,
    live_volumes,
    manifest_of,
    release_states,
    rollout_marks,
)

MAX_MANIFEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class DeployPlan:
    target: str
    manifest: Manifest
    manifest_text: str
    refs: dict[str, str]  # workload -> image reference still to be pinned


async def deploy(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    manifest_text: str,
    *,
    images: dict[str, str],
    manifest_file: str = "plat.toml",
    source: str | None = None,
    expected: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """``plat deploy``: a new release of ``manifest_text`` with every image pinned by digest,
    made current; the receipt. A reference that cannot be resolved writes nothing.

    ``expected`` (the ``If-Match`` header) is the release id the deployer expects to replace,
    ``none`` for an env without one: if the env has moved meanwhile, ``Superseded`` and
    nothing is written. When the release would equal the current one (manifest, digests,
    config, secret versions), nothing is written or started unless ``force``: the receipt
    says so."""
    plan = await asyncio.to_thread(
        prepare_deploy, ctx, principal, target, manifest_text, images, manifest_file
    )
    unique = sorted(set(plan.refs.values()))
    pinned_refs = await asyncio.gather(*(ctx.images.resolve(ref) for ref in unique))
    pinned_by_ref = dict(zip(unique, pinned_refs, strict=True))
    pinned = {workload: pinned_by_ref[ref] for workload, ref in plan.refs.items()}
    return await asyncio.to_thread(
        commit_deploy, ctx, principal, plan, pinned, source or ", ".join(unique), manifest_file,
        expected,
        force,
    )


def prepare_deploy(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    manifest_text: str,
    image_overrides: dict[str, str],
    manifest_file: str = "plat.toml",
) -> DeployPlan:
    if len(manifest_text.encode()) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"the manifest is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    manifest = parse_manifest(manifest_text, manifest_file)
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        _check_app(manifest, ref)
        _check_gate(session, ref, manifest, manifest_file)
    unknown = sorted(set(image_overrides) - set(manifest.workloads))
    if unknown:
        raise InvalidInput(
            f"--image names workloads the manifest does not have: {', '.join(unknown)}",
            hint=f"workloads in {manifest_file}: {', '.join(manifest.workloads)}",
        )
    for name, override in sorted(image_overrides.items()):
        problem = image_problem(override)
        if problem:
            raise InvalidInput(f"--image for workload {name}: {problem}")
    refs: dict[str, str] = {}
    for name, workload in manifest.workloads.items():
        image = image_overrides.get(name) or workload.image
        if image is None:
            raise InvalidInput(
                f"workload {name} is built from source but no image was given",
                hint="deploy with --build DIR so plat builds and pushes the image first",
            )
        refs[name] = image
    return DeployPlan(ref.path, manifest, manifest_text, refs)


def _check_app(manifest: Manifest, ref: tenancy.EnvRef) -> None:
    if manifest.app != ref.app.name:
        raise InvalidInput(
            f"the manifest is for app {manifest.app!r} but the target is {ref.path}",
            hint=f"deploy it to app {manifest.app!r} (--target ORG/PROJECT/{manifest.app}/ENV) "
            "or fix `app` in the manifest",
        )


def _check_gate(
    session: Session, ref: tenancy.EnvRef, manifest: Manifest, manifest_file: str
) -> None:
    keys = set(config_service.config_values(
        session, config_service.current_config(session, ref.env.id)))
    bundles = {b.name for b in config_service.live_bundles(session, ref.env.id)}
    gaps: list[Any] = list(check_gate(manifest, keys, bundles, ref.path, manifest_file))
    gaps += _volume_gaps(session, ref, manifest, manifest_file)
    if gaps:
        raise gate_error(gaps, ref.path)


def _volume_gaps(
    session: Session, ref: tenancy.EnvRef, manifest: Manifest, manifest_file: str
) -> list[Any]:
    """Volumes the manifest mounts that do not exist, and counts that cannot share one."""
    scales = live_scales(session, ref.env.id).values()
    counts = {s.workload: s.count for s in scales if s.count is not None}
    names = {v.name for v in live_volumes(session, ref.env.id)}
    return list(
        check_volumes(manifest, names, ref.path, counts=counts, manifest_file=manifest_file)
    )


def commit_deploy(
    ctx: ServiceContext,
    principal: Principal,
    plan: DeployPlan,
    pinned: dict[str, str],
    source: str,
    manifest_file: str = "plat.toml",
    expected: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, plan.target)
        principal.require(ref.org.id, "deployer")
        ctx.require_room(f"the deploy to {ref.path}")
        if expected is not None:
            _check_expected(session, ctx, ref, expected)
        _check_gate(session, ref, plan.manifest, manifest_file)
        config = config_service.current_config(session, ref.env.id)
        secret_versions = {}
        for bundle in config_service.live_bundles(session, ref.env.id):
            if bundle.name in plan.manifest.secret_bundles:
                secret_versions[bundle.name] = config_service.bundle_versions(session, bundle.id)[
                    -1
                ].id
        previous = (
            session.get(Release, ref.env.current_release_id) if ref.env.current_release_id else None
        )
        release = Release(
            id=uuid7(),
            env_id=ref.env.id,
            seq=_next_seq(session, ref.env.id),
            manifest_json=json.dumps(plan.manifest.to_dict(), sort_keys=True),
            images_json=json.dumps(pinned, sort_keys=True),
            config_version_id=config.id if config else None,
            secret_versions_json=json.dumps(secret_versions, sort_keys=True),
            created_at=ctx.clock.time(),
            created_by=principal.name,
            source=source,
        )
        if previous is not None and not force:
            unchanged = _unchanged(session, ref, previous, release)
            if unchanged is not None:
                return unchanged  # nothing was added: no release, no event, no rollout
        session.add(release)
        receipt = _move_pointer(session, ctx, principal, ref, "deploy", release, previous)
        receipt["optional_env"] = optional_keys(
            plan.manifest, set(config_service.config_values(session, config))
        )
        return receipt


def _unchanged(
    session: Session, ref: tenancy.EnvRef, current: Release, candidate: Release
) -> dict[str, Any] | None:
    """The receipt of a deploy that would change nothing (None: something changed, or the
    current release's rollout failed, when deploying it again is a retry). The candidate is
    compared with the current release as the diff sees them: manifest, image digests, config
    values, secret bundle versions."""
    if release_status(session, current, ref.env)["status"] == "failed":
        return None
    diff = release_diff(session, current, candidate)
    if diff["lines"] != ["no changes"]:
        return None
    return {
        "action": "unchanged",
        "target": ref.path,
        "release": describe(session, current, ref.env),
        "previous_release": {"id": current.id, "seq": current.seq},
        "diff": diff,
        "follow_ups": [f"plat status --target {ref.path}"],
    }


def _check_expected(
    session: Session, ctx: ServiceContext, ref: tenancy.EnvRef, expected: str
) -> None:
    """Refuse a deploy whose ``If-Match`` is not the env's current release (``none``: no
    release yet; ``*``: any), saying which change moved it since."""
    wanted = expected.strip().removeprefix("W/").strip('"')
    current = ref.env.current_release_id or "none"
    if wanted in ("*", current):
        return
    change = session.exec(
        select(EnvChange).where(EnvChange.env_id == ref.env.id).order_by(col(EnvChange.at).desc())
    ).first()
    now_rel = session.get(Release, current) if current != "none" else None
    was = session.get(Release, wanted) if wanted != "none" else None
    read = (f"v{was.seq}" if was is not None and was.env_id == ref.env.id
            else "no release" if wanted == "none" else f"release {wanted}")
    moved = f"v{now_rel.seq}" if now_rel is not None else "no release"
    how = ""
    if change is not None:
        ago = max(0.0, ctx.clock.time() - change.at)
        verb = {"deploy": "deployed", "retry": "retried"}.get(change.action, "rolled back to")
        how = f" ({change.by} {verb} it {ago:.0f}s ago)"
    raise Superseded(
        f"{ref.path} is now at {moved}{how}, not {read} as this deploy expected; "
        "nothing was deployed",
        hint=[f"see what changed: plat releases --target {ref.path}",
              "deploy again to replace it, if you still mean to"],
        details={"current_release": {"id": now_rel.id, "seq": now_rel.seq} if now_rel else None,
                 "expected": wanted},
    )


def _move_pointer(
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
    stop_first = _stop_first(target, replacing=previous is not None)
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


def _stop_first(release: Release, replacing: bool = True) -> list[dict[str, Any]]:
    """The receipt's word on workloads replaced stop-first because they mount a volume."""
    return stop_first_notes(manifest_of(release), replacing=replacing)


def release_diff(session: Session, old: Release | None, new: Release) -> dict[str, Any]:
    def config_of(release: Release | None) -> dict[str, str] | None:
        if release is None or release.config_version_id is None:
            return None if release is None else {}
        return config_service.config_values(
            session, session.get(ConfigVersion, release.config_version_id))

    diff = diff_releases(
        manifest_of(old) if old else None,
        manifest_of(new),
        config_of(old),
        config_of(new) or {},
        json.loads(old.images_json) if old else {},
        json.loads(new.images_json),
    )
    lines = [line for line in diff.lines() if line != "no changes"]
    rotated = _rotated_secrets(session, old, new)
    lines += [f"~ secret bundle {name}: version {a} -> {b}" for name, a, b in rotated]
    return {
        **diff.to_dict(),
        "secrets_rotated": [name for name, _a, _b in rotated],
        "lines": lines or ["no changes"],
    }


def _rotated_secrets(
    session: Session, old: Release | None, new: Release
) -> list[tuple[str, int, int]]:
    """Bundles both releases use whose pinned version differs (names and numbers, no values)."""
    if old is None:
        return []
    before = json.loads(old.secret_versions_json)
    after = json.loads(new.secret_versions_json)
    out = []
    for name in sorted(set(before) & set(after)):
        if before[name] != after[name]:
            a, b = session.get(SecretVersion, before[name]), session.get(SecretVersion, after[name])
            out.append((name, a.version if a else 0, b.version if b else 0))
    return out


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


def _next_seq(session: Session, env_id: str) -> int:
    top = session.exec(
        select(Release.seq).where(Release.env_id == env_id).order_by(col(Release.seq).desc())
    ).first()
    return (top or 0) + 1


def release_status(session: Session, release: Release, env: Env) -> dict[str, Any]:
    states = release_states(session, env.id, release.id).get(release.id, [])
    return _status_of(release, env, states, ever_converged(session, release.id))


def _status_of(release: Release, env: Env, states: list[Any],
               converged: bool) -> dict[str, Any]:
    """The release's status from its verdicts (``release_states`` rows, in the order they were
    written) and whether any rollout of it ever converged."""
    current = release.id == env.current_release_id
    if current:
        # Only verdicts on the env's latest rollout of it count (an earlier generation's
        # failure does not fail a rollback to the release).
        states = [s for s in states if s.change_id == env.current_change_id]
    failed = next((s for s in states if s.status == "failed"), None)
    degraded = next((s for s in states if s.status == "degraded"), None)
    if not current:
        status = "failed" if failed else "degraded" if degraded else "superseded"
    elif failed:
        status = "failed"
    elif degraded:
        status = "degraded"
    elif states and all(s.status == "converged" for s in states):
        status = "converged"
    elif states:
        status = "rolling"
    else:
        status = "pending"
    out: dict[str, Any] = {"status": status, "ever_converged": converged}
    if failed:
        out.update(failed_step=failed.step, category=failed.category, error=failed.message)
    elif degraded:
        out.update(failed_step=degraded.step, category=degraded.category, error=degraded.message)
    return out


def last_trouble(session: Session, release_id: str) -> ReleaseState | None:
    """The failed or degraded verdict of the release's last rollout on some host, if any."""
    states = session.exec(select(ReleaseState).where(ReleaseState.release_id == release_id)).all()
    return next((s for s in states if s.status in ("failed", "degraded")), None)


def ever_converged(session: Session, release_id: str) -> bool:
    """Whether any rollout of the release ever converged: the history says, not current state."""
    return (
        session.exec(
            select(Event.seq).where(
                Event.release_id == release_id, Event.step == "rollout", Event.outcome == "ok"
            )
        ).first()
        is not None
    )


def describe(session: Session, release: Release, env: Any) -> dict[str, Any]:
    return describe_many(session, [release], env, one=True)[0]


def describe_many(session: Session, releases: list[Release], env: Any, *,
                  one: bool = False) -> list[dict[str, Any]]:
    """``describe`` of several releases of ``env``, with three queries whatever their number
    (their verdicts, their events' marks, their config versions); ``one``: ``releases`` is a
    single release, and only its rows are read."""
    only = releases[0].id if one else None
    states = release_states(session, env.id, only)
    marks = rollout_marks(session, env.id, only)
    configs = config_version_numbers(session, env.id, only) if any(
        r.config_version_id for r in releases) else {}
    out = []
    for release in releases:
        mark = marks.get(release.id, RolloutMarks(None, False))
        out.append({
            "id": release.id,
            "seq": release.seq,
            "version": f"v{release.seq}",
            "created_at": release.created_at,
            "created_by": release.created_by,
            "source": release.source,
            "images": json.loads(release.images_json),
            "config_version": configs.get(release.config_version_id or "", 0),
            "secret_versions": json.loads(release.secret_versions_json),
            "current": release.id == env.current_release_id,
            # Just before the event that started the release's latest rollout (deploy,
            # rollback or retry): where a follower of that rollout starts.
            "rollout_cursor": max((mark.last_start or 1) - 1, 0),
            **_status_of(release, env, states.get(release.id, []), mark.converged),
        })
    return out


_SEQ_RE = re.compile(r"^v?(\d+)$")


def find_release(session: Session, ref: tenancy.EnvRef, text: str) -> Release:
    """A release of this env by ``v3``, ``3``, full id or a unique id prefix (8+ chars)."""
    rows = list(session.exec(select(Release).where(Release.env_id == ref.env.id)).all())
    match = _SEQ_RE.match(text)
    found = [r for r in rows if (match and r.seq == int(match.group(1))) or r.id == text]
    if not found and len(text) >= 8:
        found = [r for r in rows if r.id.startswith(text)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InvalidInput(f"{text!r} matches several releases; give more of the id")
    elsewhere = session.get(Release, text)
    where = " (it belongs to another env)" if elsewhere is not None else ""
    raise NotFound(
        f"no release {text!r} in {ref.path}{where}",
        hint=f"list this env's releases with: plat releases --target {ref.path}",
    )


def list_releases(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        rows = list(session.exec(
            select(Release).where(Release.env_id == ref.env.id).order_by(col(Release.seq).desc())
        ).all())
        return {"target": ref.path, "releases": describe_many(session, rows, ref.env)}


def get_release(ctx: ServiceContext, principal: Principal, target: str,
                text: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        release = find_release(session, ref, text)
        replaced = _replaced_by(session, release)
        return {
            "target": ref.path,
            **describe(session, release, ref.env),
            "manifest": json.loads(release.manifest_json),
            # What its deploy changed, as its receipt said: the audit trail of the release.
            "changes": {
                "from": {"id": replaced.id, "seq": replaced.seq} if replaced else None,
                "lines": release_diff(session, replaced, release)["lines"],
            },
        }


def _replaced_by(session: Session, release: Release) -> Release | None:
    """The release that was current when ``release`` was deployed (None: it was the first)."""
    previous_id = session.exec(
        select(EnvChange.previous_release_id)
        .where(EnvChange.release_id == release.id, EnvChange.action == "deploy")
    ).first()
    return session.get(Release, previous_id) if previous_id else None


def refuse_change(release: str) -> None:
    """A release is immutable: changing one is refused with the ways out."""
    raise Conflict(
        f"release {release} is immutable: nothing about a release can be changed",
        hint="deploy a new release with plat deploy, or point the env at another one with "
        "plat rollback RELEASE",
    )


def rollback(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    text: str | None,
    *,
    dry_run: bool = False,
    accept_failed: bool = False,
) -> dict[str, Any]:
    """Point the env back at ``text`` (or the last release that converged healthy).

    With ``dry_run`` nothing is written: the answer is the receipt it would print, so the TUI
    can show the diff and ask before anything changes. A release whose last rollout failed or
    degraded is rolled back to only with ``accept_failed`` (the person was warned and agreed).
    """
    with ctx.store.read() if dry_run else ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        current = (
            session.get(Release, ref.env.current_release_id) if ref.env.current_release_id else None
        )
        if current is None:
            raise Conflict(
                f"{ref.path} has no release to roll back from",
                hint=f"deploy one with: plat deploy --target {ref.path}",
            )
        skipped: list[dict[str, str]] = []
        if text:
            chosen = find_release(session, ref, text)
        else:
            chosen, skipped = _last_good_before(session, ref, current)
        # The current release again: a retry, allowed once its rollout failed (after a fix
        # outside the release: a scale, a volume, capacity, the registry back up).
        retry = chosen.id == current.id
        if retry and release_status(session, current, ref.env)["status"] != "failed":
            raise Conflict(
                f"v{chosen.seq} is already the current release of {ref.path}",
                hint=f"see the others with: plat releases --target {ref.path}",
            )
        action = "retry" if retry else "rollback"
        trouble = None if retry else last_trouble(session, chosen.id)
        failed_before = _failed_before(chosen, trouble) if trouble is not None else None
        if failed_before is not None and not dry_run and not accept_failed:
            raise Conflict(
                f"v{chosen.seq} {failed_before['summary']}: rolling back to it needs a "
                "confirmation",
                hint=[
                    "on a terminal, plat rollback asks; answer y to go ahead",
                    f"in a script: plat rollback v{chosen.seq} --yes --target {ref.path}",
                    f"or pick a release that converged: plat releases --target {ref.path}",
                ],
                details={"failed_before": failed_before, "release": chosen.id},
            )
        if dry_run:
            return {
                "action": action,
                "dry_run": True,
                "target": ref.path,
                "release": describe(session, chosen, ref.env),
                "previous_release": {"id": current.id, "seq": current.seq},
                "diff": release_diff(session, current, chosen),
                "follow_ups": [f"plat rollback {chosen.id} --target {ref.path}"],
                "chosen_automatically": text is None,
                "skipped": skipped,
                "failed_before": failed_before,
                "stop_first": _stop_first(chosen),
            }
        receipt = _move_pointer(session, ctx, principal, ref, action, chosen, current)
        receipt["chosen_automatically"] = text is None
        receipt["skipped"] = skipped
        receipt["failed_before"] = failed_before
        return receipt


def _failed_before(release: Release, trouble: ReleaseState) -> dict[str, Any]:
    """What a person is told before rolling back to a release whose last rollout went wrong."""
    first = (trouble.message or "").splitlines()[0] if trouble.message else ""
    if trouble.status == "degraded":
        summary = "degraded the last time it ran (its instances crash-looped after converging)"
    else:
        summary = (f"failed the last time it rolled out (at step {trouble.step}, "
                   f"{trouble.category})")
    return {"version": f"v{release.seq}", "status": trouble.status, "summary": summary,
            "message": first}


def _last_good_before(
    session: Session, ref: tenancy.EnvRef, current: Release,
) -> tuple[Release, list[dict[str, str]]]:
    """The newest earlier release that converged and whose last verdict is good; and the
    releases passed over on the way, each with why (a bare rollback says which it skipped)."""
    rows = session.exec(
        select(Release)
        .where(Release.env_id == ref.env.id, col(Release.seq) < current.seq)
        .order_by(col(Release.seq).desc())
    ).all()
    skipped: list[dict[str, str]] = []
    for release in rows:
        trouble = last_trouble(session, release.id)
        if trouble is not None:
            why = ("degraded: its instances crash-looped after converging"
                   if trouble.status == "degraded" else "its rollout failed")
            skipped.append({"version": f"v{release.seq}", "status": trouble.status, "why": why})
        elif not ever_converged(session, release.id):
            skipped.append({"version": f"v{release.seq}", "status": "never-converged",
                            "why": "it never converged"})
        else:
            return release, skipped
    passed = "".join(f"; v{s['version'][1:]} {s['why']}" for s in skipped)
    raise NotFound(
        f"no release before v{current.seq} in {ref.path} ever converged healthy{passed}",
        hint=f"pick one explicitly: plat rollback RELEASE --target {ref.path} "
        f"(see plat releases --target {ref.path})",
    )
