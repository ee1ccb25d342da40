"""plat releases and plat rollback: the env's releases, and pointing it back at an earlier one.

``plat releases`` is a read command: registering this module is on its start-up path, so the
renderers, the follow and the receipts are imported by the handlers that use them.
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import ROLLOUT_TIMEOUT, finite_float

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("releases", parents=[common], help="list the env's releases")
    p.set_defaults(handler=releases)

    p = sub.add_parser(
        "rollback",
        parents=[common],
        help="point the env back at an earlier release",
        description="Without RELEASE, picks the most recent release before the "
        "current one that converged healthy, skipping (and naming) failed and degraded ones. "
        "Nothing is rebuilt or re-resolved. RELEASE may be the current release when its "
        "rollout failed: that retries it as it is. Rolling back to a release whose last "
        "rollout failed or degraded asks first (--yes in scripts).",
    )
    p.add_argument("release", nargs="?", help="v3, an id or a unique id prefix")
    p.add_argument("--yes", "-y", action="store_true",
                   help="roll back even to a release that failed or degraded before")
    p.add_argument("--detach", action="store_true")
    p.add_argument("--timeout", type=finite_float, default=ROLLOUT_TIMEOUT)
    p.set_defaults(handler=rollback)


def releases(ctx: Ctx) -> int:
    from tui.api_paths import env_path
    from tui.render.releases import releases_lines

    target = ctx.target()
    r = ctx.get(env_path(target, "/releases"))
    ctx.out(r, releases_lines(r))
    return 0


def rollback(ctx: Ctx) -> int:
    from platd.spec.errors import Conflict
    from tui.cli.commands.wait import follow_release
    from tui.render.receipts import receipt

    target = ctx.target()
    path = ctx.client.env_path(target, "/rollback")
    body = {"release": ctx.args.release, "accept_failed": ctx.args.yes}
    try:
        r = ctx.client.post(path, body)
    except Conflict as e:
        if "failed_before" not in e.details or not _confirm_failed(ctx, e):
            raise
        r = ctx.client.post(path, {**body, "accept_failed": True})
    ctx.out(r, receipt(r))
    if ctx.args.detach:
        return 0
    return follow_release(
        ctx, target, r["release"]["id"], ctx.args.timeout, after=r["event_cursor"]
    )


def _confirm_failed(ctx: Ctx, refusal: Any) -> bool:
    """Warn that the chosen release failed before and ask; False: refuse as platd did."""
    from tui.render.receipts import failed_before_lines, rollback_question

    if ctx.json or not ctx.interactive:
        return False  # nobody to ask: platd's refusal says to pass --yes
    info = refusal.details["failed_before"]
    for line in failed_before_lines(info):
        ctx.note(line.strip())
    answer = ctx.ask(rollback_question(info))
    if answer is None or answer.strip().lower() not in ("y", "yes"):
        raise InvalidInput(
            f"not rolled back: {info['version']} {info['summary']}",
            hint=refusal.hint[1:],
        )
    return True
