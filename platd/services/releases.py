"""Releases: created by deploy, pointed at by the env, never edited; rollback moves the pointer.

This module creates them (``deploy``) and refuses changing one; reading them is
``releases_read``, moving the env's pointer ``release_pointer``, going back ``rollback``.

``deploy`` is two steps around one slow call: ``prepare_deploy`` parses the manifest and checks
the config gate (nothing written), image tags are resolved to digests in their registry
(concurrently, outside any transaction), and ``commit_deploy`` writes the release, moves the
env's pointer and records the history in one transaction, checking the gate again in case config
changed in between.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import config as config_service
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.services.release_pointer import move_pointer
from platd.services.releases_read import describe, release_diff, release_status
from platd.spec.errors import Conflict, InvalidInput, Superseded
from platd.spec.gate import check_gate, gate_error, optional_keys
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest, parse_manifest
from platd.spec.runtime_rules import image_problem
from platd.spec.volumes import check_volumes
from platd.store.models import EnvChange, Release
from platd.store.queries import live_scales, live_volumes

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
        receipt = move_pointer(session, ctx, principal, ref, "deploy", release, previous)
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


def _next_seq(session: Session, env_id: str) -> int:
    top = session.exec(
        select(Release.seq).where(Release.env_id == env_id).order_by(col(Release.seq).desc())
    ).first()
    return (top or 0) + 1


def refuse_change(release: str) -> None:
    """A release is immutable: changing one is refused with the ways out."""
    raise Conflict(
        f"release {release} is immutable: nothing about a release can be changed",
        hint="deploy a new release with plat deploy, or point the env at another one with "
        "plat rollback RELEASE",
    )
