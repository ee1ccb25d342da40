"""``plat describe release|workload|instance``: everything about one resource, its recent events
last.

Separate from ``status`` because a description is about one thing in depth, built from the
same placement and event lines the overview uses.
"""

from __future__ import annotations

from platd.spec.sizes import format_size
from platd.spec.timeparse import format_utc
from tui.render.events import event_line
from tui.render.status import placed_lines

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def describe_lines(d: dict[str, Any]) -> list[str]:
    """`plat describe release|workload|instance`: everything about one resource."""
    kind = d["kind"]
    lines: list[str] = []
    if kind == "release":
        lines += [f"release {d['version']} ({d['id']}) of {d['target']}",
                  f"  status      {d['status']}{' (current)' if d['current'] else ''}",
                  f"  created     {format_utc(d['created_at'])} by {d['created_by']}",
                  f"  source      {d['source']}",
                  f"  config      version {d['config_version']}",
                  "  secrets     " + (", ".join(
                      f"{s['name']} v{s['version'] if s['version'] is not None else '?'}"
                      for s in d.get("secrets") or []) or "none"),
                  "  hosts       " + (", ".join(d.get("hosts") or [])
                                      or "none (no instance of it runs)")]
        lines += [f"  image       {w}: {i}" for w, i in sorted(d["images"].items())]
        if d.get("error"):
            verdict = "degraded" if d["status"] == "degraded" else "failed at "
            lines += [f"  {verdict:<11} {d.get('failed_step')} ({d.get('category')})"]
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
        lines += placed_lines(d)
        if d.get("rollout"):
            lines.append(f"  rollout: {d['rollout']}")
        for i in d["instances"]:
            lines.append(f"  instance {i['id']}  {i['release']}  {i['state']}  {i['health']}  "
                         f"restarts {i['restarts']}")
    else:
        lines += [f"instance {d['id']} of {d['target']}",
                  f"  workload {d['workload']}, release {d['release']}, host "
                  f"{d.get('host_name') or d['host']} ({d['host'][-12:]})",
                  f"  state {d['state']}, health {d['health']}, restarts {d['restarts']}, "
                  f"exit code {'-' if d['exit_code'] is None else d['exit_code']}",
                  "  ports " + (", ".join(f"{v}->{k}" for k, v in sorted(d["ports"].items()))
                                or "-")]
        if d.get("reason"):
            lines.append(f"  why: {d['reason']}")
        if d.get("placement"):
            lines.append(f"  placement: {d['placement']}")
    if d.get("events"):
        lines += ["  recent events:"] + [event_line(e, "    ") for e in d["events"][-10:]]
    return lines
