"""plat wait, and following a release's rollout to its verdict.

``plat deploy`` and ``plat rollback`` follow the release they made through ``follow_release``
as ``plat wait`` does, so the three print the same events and end with the same exit codes:
0 converged, 8 failed (or superseded, degraded), 9 timed out. A lost connection to platd is
ridden out here: the rollout goes on in the daemon meanwhile.
"""

from __future__ import annotations

import argparse
import time

from platd.spec.errors import InvalidInput, RolloutFailed, Superseded, TimedOut
from tui.cli.context import Ctx, reconnecting
from tui.cli.options import ROLLOUT_TIMEOUT, finite_float

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

POLL_WAIT = 20.0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "wait",
        parents=[common],
        help="wait until a release converges or fails",
        description="Exit 0 when converged, 8 when the rollout failed (or the release "
        "converged and then degraded), 9 on timeout.",
    )
    p.add_argument("release", nargs="?", help="release (v3, an id or id prefix; default: current)")
    p.add_argument("--timeout", type=finite_float, default=ROLLOUT_TIMEOUT)
    p.add_argument("--quiet", "-q", action="store_true", help="do not print events")
    p.set_defaults(handler=wait)


def follow_release(
    ctx: Ctx, target: str, release_id: str, timeout: float, quiet: bool = False, after: int = 0,
    retry: str | None = None,
) -> int:
    """Print the release's events until its rollout converges (0) or fails (8); 9 on timeout.

    A lost connection to platd (a restart) is ridden out up to the reconnect bound, within the
    same deadline: the rollout goes on in the daemon, and the events resume from ``after``.
    ``retry``: the command that made the release, which a failure names (``plat deploy``)."""
    from platd.spec.errors import DaemonUnreachable
    from tui.follow import follow
    from tui.render.connection import RESUME_EVENTS
    from tui.render.events import event_line

    deadline = time.monotonic() + timeout
    path = ctx.client.env_path(target, "/events")
    ask = reconnecting(ctx, RESUME_EVENTS, until=deadline, hint=[
        f"platd goes on with the rollout while it runs; follow it again with: "
        f"plat wait {release_id} --target {target}"])

    def poll(after: int) -> Any:
        left = max(0.0, deadline - time.monotonic())
        return ctx.client.request(
            "GET", path, query={"after": after, "release": release_id,
                                "wait": min(POLL_WAIT, left)},
            timeout=POLL_WAIT + 10,
        )

    lost = ""
    try:
        if time.monotonic() < deadline:
            for page in follow(poll, after, ask):
                for e in page["events"]:
                    if not quiet:
                        ctx.say(event_line(e))
                    if e["step"] == "rollout" and e["outcome"] == "superseded":
                        raise _superseded(ctx, target, release_id, e)
                    if e["step"] == "rollout" and e["outcome"] in ("ok", "failed"):
                        known = page.get("release") if e["outcome"] == "ok" else None
                        return ask(_conclude, ctx, target, release_id, known, retry)
                if time.monotonic() >= deadline:
                    break
    except DaemonUnreachable as exc:
        if time.monotonic() < deadline:
            raise  # the reconnect bound came first
        lost = f"; at the end platd could not be reached ({exc.message})"
    raise TimedOut(
        f"release {release_id} did not converge within {timeout:g}s{lost}",
        hint=[
            f"keep waiting: plat wait {release_id} --target {target}",
            f"see why: plat status --target {target}",
        ],
    )


def _superseded(ctx: Ctx, target: str, release_id: str, event: dict[str, Any]) -> Exception:
    """The followed release will never converge: another deploy or rollback replaced it."""
    return Superseded(
        event["message"],
        hint=[f"follow the release that replaced it: plat wait --target {target}",
              f"see every release: plat releases --target {target}"],
        details={"release": release_id},
    )


def _conclude(
    ctx: Ctx, target: str, release_id: str, known: dict[str, Any] | None = None,
    retry: str | None = None,
) -> int:
    """The verdict on a rollout that ended. ``known``: the release's id, version and status
    as the events page with its `ok` said (platd adds them to a page filtered by release); when
    that is not a failure and only the version is printed, no request is needed. ``retry``: the
    command a failure names to run again (None: not a deploy)."""
    from tui.render.releases import failure_lines

    wants_release = ctx.json and ctx.args.handler is wait
    if (isinstance(known, dict) and known.get("id") == release_id and not wants_release
            and isinstance(known.get("version"), str)
            and isinstance(known.get("status"), str) and known["status"] != "failed"):
        ctx.say(f"release {known['version']} converged: every instance is running and healthy")
        return 0
    rel = ctx.client.get(ctx.client.env_path(target, f"/releases/{release_id}"))
    if rel["status"] == "failed":
        status = ctx.client.get(ctx.client.env_path(target, "/status"))
        serving = sorted(
            {
                i["release"]
                for w in status["workloads"]
                for i in w["instances"]
                if i["state"] == "running" and i["release"] != rel["version"]
            }
        )
        raise RolloutFailed(
            "\n".join(failure_lines(rel, target, ", ".join(serving) or None, retry)),
            details={"release": rel},
        )
    if wants_release:
        ctx.out(
            rel
        )  # `plat wait --json` answers with the release; deploy already printed its receipt
    else:
        ctx.say(f"release {rel['version']} converged: every instance is running and healthy")
    return 0


def _current_release(ctx: Ctx, target: str) -> str:
    rows = ctx.client.get(ctx.client.env_path(target, "/releases"))["releases"]
    current = next((r for r in rows if r["current"]), None)
    if current is None:
        raise InvalidInput(
            f"{target} has no release to wait for",
            hint=f"deploy one: plat deploy -f plat.toml --target {target}",
        )
    return str(current["id"])


def wait(ctx: Ctx) -> int:
    target = ctx.target()
    wanted = ctx.args.release or _current_release(ctx, target)
    rel = ctx.client.get(ctx.client.item_path(target, "releases", wanted, "release"))
    if rel["status"] == "converged":
        ctx.out(rel, [f"release {rel['version']} has converged"])
        return 0
    if rel["status"] == "failed":
        return _conclude(ctx, target, rel["id"])
    if rel["status"] == "degraded":
        from tui.render.releases import degraded_lines

        raise RolloutFailed("\n".join(degraded_lines(rel, target)), details={"release": rel})
    if rel["status"] == "superseded":
        listed = ctx.client.get(ctx.client.env_path(target, "/releases"))["releases"]
        now = next((r for r in listed if r["current"]), None)
        by = f"v{now['seq']}" if now is not None else "another release"
        raise Superseded(
            f"release {rel['version']} was superseded by {by}; nothing will converge it",
            hint=[f"follow the current release: plat wait --target {target}",
                  f"see every release: plat releases --target {target}"],
        )
    return follow_release(
        ctx,
        target,
        rel["id"],
        ctx.args.timeout,
        quiet=ctx.args.quiet,
        after=rel.get("rollout_cursor", 0),
    )
