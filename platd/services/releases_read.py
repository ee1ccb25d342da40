"""Reading releases: finding one by what a person types, describing them with their status, and
the diff between two; no writes.

A release's status is computed, never stored: from its verdicts (``release_states``), which
rollout of the env they belong to, and whether the history ever saw it converge. Status,
events, deploy and rollback all read releases through here, so they say the same thing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import config as config_service
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.diff import diff_releases
from platd.spec.errors import InvalidInput, NotFound
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
    manifest_of,
    release_states,
    rollout_marks,
)


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
