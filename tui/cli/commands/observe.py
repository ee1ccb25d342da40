"""plat status, describe and events: reading what the platform did and is doing.

Each handler imports its renderers itself: ``plat --help`` imports this module to name its
commands, and ``plat status`` needs none of what describe and events show."""

from __future__ import annotations

import argparse

from tui.cli.context import Ctx, reconnecting

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

FOLLOW_WAIT = 20.0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="desired and current counts, instances, health and restarts")
    p.set_defaults(handler=status)

    p = sub.add_parser("describe", parents=[common], help="everything about one resource")
    p.add_argument("kind", choices=("release", "workload", "instance"))
    p.add_argument("id", help="release (v3, id or prefix), workload name, or instance id")
    p.set_defaults(handler=describe)

    p = sub.add_parser("events", parents=[common], help="what happened, in order")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing new events until Ctrl-C; survives platd restarts")
    p.add_argument("--release", help="only events of this release (v3, id or prefix)")
    p.add_argument("--since", help="only events after this time: 10m, 2h or a timestamp")
    p.add_argument("--limit", type=int, default=100, help="how many past events (default 100)")
    p.set_defaults(handler=events)


def status(ctx: Ctx) -> int:
    from tui.api_paths import env_path
    from tui.render.status import status_lines

    target = ctx.target()
    # ?cluster=1: the cluster line's facts in the same answer (asked for: the TUI's status
    # polls leave gossip alone). An older platd ignores the query and its answer has no
    # ``cluster``: it is asked the way it understands.
    s = ctx.get(env_path(target, "/status"), cluster=1)
    lines = status_lines(s)
    cluster = s["cluster"] if "cluster" in s else _cluster(ctx)
    line = _cluster_line(cluster)
    if line:
        lines += ["", line]
    ctx.out({**s, "cluster": cluster}, lines)
    return 0


def _cluster_line(cluster: Any) -> str | None:
    """The line that says the cluster (None on a host of its own, or for an answer this plat
    cannot read: status goes on without the line)."""
    if not cluster:
        return None
    from tui.answers import SHAPE_ERRORS
    from tui.render.hosts import cluster_status_line, hosts_down

    try:
        return cluster_status_line(cluster, hosts_down(cluster.get("down") or []))
    except SHAPE_ERRORS:
        return None


def _cluster(ctx: Ctx) -> dict[str, Any] | None:
    """The cluster as a platd older than the ``cluster`` field of its status answer says it:
    ``GET /v1/cluster``, then ``GET /v1/hosts`` for the names of the hosts that are not
    alive, only when there are some. None on a host of its own, or when the daemon cannot say
    (older still)."""
    from platd.spec.errors import PlatError
    from tui.answers import SHAPE_ERRORS

    try:
        c: dict[str, Any] = ctx.client.get("/v1/cluster")
        if not c.get("cluster"):
            return None
        c["down"] = []
        if c["alive"] < c["total"]:
            try:
                c["down"] = [{"name": h["name"], "state": h["state"]}
                             for h in ctx.client.get("/v1/hosts")["hosts"]
                             if h["state"] != "alive"]
            except (PlatError, *SHAPE_ERRORS):
                pass  # the count alone, then
        return c
    except (PlatError, *SHAPE_ERRORS):
        return None


def describe(ctx: Ctx) -> int:
    from tui.render.describe import describe_lines

    target = ctx.target()
    collection, what = {"release": ("releases", "release id"),
                        "workload": ("workloads", "workload name"),
                        "instance": ("instances", "instance id")}[ctx.args.kind]
    d = ctx.client.get(ctx.client.item_path(target, collection, ctx.args.id, what))
    ctx.out(d, describe_lines(d))
    return 0


def events(ctx: Ctx) -> int:
    import time

    from platd.spec.timeparse import parse_time
    from tui.render.connection import RESUME_EVENTS

    target = ctx.target()
    a = ctx.args
    since = parse_time(a.since, time.time()) if a.since else None
    path = ctx.client.env_path(target, "/events")
    page = ctx.client.get(path, release=a.release, since=since, limit=a.limit)
    _print_events(ctx, page["events"])
    if not a.follow:
        return 0
    from tui.follow import follow

    def fetch(after: int) -> Any:
        return ctx.client.request("GET", path, query={
            "after": after, "release": a.release, "wait": FOLLOW_WAIT}, timeout=FOLLOW_WAIT + 10)

    for more in follow(fetch, page["cursor"], reconnecting(ctx, RESUME_EVENTS)):
        _print_events(ctx, more["events"])
    return 0


def _print_events(ctx: Ctx, rows: list[dict[str, Any]]) -> None:
    if rows:
        import json

        from tui.render.events import event_line

        show = (lambda e: json.dumps(e, sort_keys=True)) if ctx.json else event_line
        ctx.line("\n".join(show(e) for e in rows))
