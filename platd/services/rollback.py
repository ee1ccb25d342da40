"""Rollback: point the env back at an earlier release (or retry the current one after its
rollout failed); nothing about a release changes, only which one is current.

Without a release named, the newest earlier release that converged and did not go wrong since
is chosen, and the answer says which ones were passed over and why. Going back to a release
whose last rollout failed or degraded needs the person's explicit agreement.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.services.release_pointer import move_pointer, stop_first_of
from platd.services.releases_read import (
    describe,
    ever_converged,
    find_release,
    last_trouble,
    release_diff,
    release_status,
)
from platd.spec.errors import Conflict, NotFound
from platd.store.models import Release, ReleaseState


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
                "stop_first": stop_first_of(chosen),
            }
        receipt = move_pointer(session, ctx, principal, ref, action, chosen, current)
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
