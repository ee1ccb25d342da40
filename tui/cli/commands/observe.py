"""plat status, describe and events: reading what the platform did and is doing."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from platd.spec.sizes import format_size
from platd.spec.timeparse import format_utc, parse_time
from tui.cli.context import Ctx
from tui.render import event_line, status_lines

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
    target = ctx.target()
    s = ctx.client.get(ctx.client.env_path(target, "/status"))
    ctx.out(s, status_lines(s))
    return 0


def describe(ctx: Ctx) -> int:
    target = ctx.target()
    route = {"release": "/releases/", "workload": "/workloads/", "instance": "/instances/"}
    d = ctx.client.get(ctx.client.env_path(target, route[ctx.args.kind] + ctx.args.id))
    ctx.out(d, _describe_lines(d))
    return 0


def _describe_lines(d: dict[str, Any]) -> list[str]:
    kind = d["kind"]
    lines: list[str] = []
    if kind == "release":
        lines += [f"release {d['version']} ({d['id']}) of {d['target']}",
                  f"  status      {d['status']}{' (current)' if d['current'] else ''}",
                  f"  created     {format_utc(d['created_at'])} by {d['created_by']}",
                  f"  source      {d['source']}",
                  f"  config      version {d['config_version']}",
                  f"  secrets     {json.dumps(d['secret_versions'])}"]
        lines += [f"  image       {w}: {i}" for w, i in sorted(d["images"].items())]
        if d.get("error"):
            lines += [f"  failed at   {d.get('failed_step')} ({d.get('category')})"]
            lines += [f"    {line}" for line in d["error"].splitlines()]
        lines.append("  workloads:")
        for name, w in d["manifest"]["workloads"].items():
            command = " ".join(w["command"]) if w["command"] else "(image default)"
            lines.append(f"    {name}: count {w['count']}, cpu {w['cpu']:g}, "
                         f"memory {format_size(w['memory'])}, command {command}")
        changes = d.get("changes")
        if changes:
            was = changes["from"]
            lines.append(f"  changes from v{was['seq']}:" if was else
                         "  changes (first release):")
            lines += [f"    {line}" for line in changes["lines"]]
    elif kind == "workload":
        lines += [f"workload {d['name']} of {d['target']}",
                  f"  desired {d['desired']}, running {d['running']}, healthy {d['healthy']}, "
                  f"cpu {d['cpu']:g}, memory {d['memory']}"]
        if d.get("spec"):
            lines.append(f"  image {d['spec'].get('image')}")
        for reason in d["pending"]:
            lines.append(f"  pending: {reason}")
        for v in d.get("volumes") or []:
            mode = "read-only" if v["read_only"] else "read-write"
            lines.append(f"  volume {v['name']} at {v['mount']} ({mode})")
        if d.get("placement"):
            lines.append(f"  placement: {d['placement']}")
        if d.get("rollout"):
            lines.append(f"  rollout: {d['rollout']}")
        for i in d["instances"]:
            lines.append(f"  instance {i['id']}  {i['release']}  {i['state']}  {i['health']}  "
                         f"restarts {i['restarts']}")
    else:
        lines += [f"instance {d['id']} of {d['target']}",
                  f"  workload {d['workload']}, release {d['release']}, host {d['host']}",
                  f"  state {d['state']}, health {d['health']}, restarts {d['restarts']}, "
                  f"exit code {'-' if d['exit_code'] is None else d['exit_code']}",
                  "  ports " + (", ".join(f"{v}->{k}" for k, v in sorted(d["ports"].items()))
                                or "-")]
        if d.get("reason"):
            lines.append(f"  why: {d['reason']}")
    if d.get("events"):
        lines += ["  recent events:"] + [f"    {event_line(e)}" for e in d["events"][-10:]]
    return lines


def events(ctx: Ctx) -> int:
    target = ctx.target()
    a = ctx.args
    since = parse_time(a.since, time.time()) if a.since else None
    path = ctx.client.env_path(target, "/events")
    page = ctx.client.get(path, release=a.release, since=since, limit=a.limit)
    _print_events(ctx, page["events"])
    if not a.follow:
        return 0
    from tui.cli.reconnect import Reconnecting

    ask = Reconnecting("the last event shown")
    after = page["cursor"]
    while True:
        page = ask(ctx.client.request, "GET", path,
                   query={"after": after, "release": a.release, "wait": FOLLOW_WAIT},
                   timeout=FOLLOW_WAIT + 10)
        _print_events(ctx, page["events"])
        after = page["cursor"]


def _print_events(ctx: Ctx, rows: list[dict[str, Any]]) -> None:
    for e in rows:
        if ctx.json:
            print(json.dumps(e, sort_keys=True), flush=True)
        else:
            print(event_line(e), flush=True)
