"""Volumes in words: ``plat volumes describe`` and the row of ``plat volumes list`` (and of the
TUI's Volumes table).

A volume's size may or may not be enforced and its usage may be unknown off its host; these
lines say which, so nobody reads a guess as a fact.
"""

from __future__ import annotations

from platd.spec.timeparse import format_utc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def volume_lines(v: dict[str, Any]) -> list[str]:
    """`plat volumes describe`: size, usage, host and labels, attachment, snapshots, commands."""
    host = v["host"]
    labels = ", ".join(f"{k}={val}" for k, val in sorted(host["labels"].items())) or "no labels"
    lines = [f"volume {v['name']} ({v['id']}) of {v['target']}",
             f"  size        {v['size_label']} ({v['filesystem']}, size enforced)"
             if v["enforced"] else f"  size        {v['size_label']} (NOT enforced: "
             f"{v['unavailable']})"]
    u = v.get("usage")
    if u:
        lines.append(f"  used        {u['used_label']} of {u['capacity_label']} usable "
                     f"({u['available_label']} free; the filesystem keeps the rest)")
    else:
        lines.append("  used        unknown: not mounted on this host")
    lines.append(f"  host        {host['name']} ({host['id'][-12:]}), labels: {labels}")
    if v.get("region"):
        lines.append(f"  placed by   region={v['region']}")
    att = v.get("attached")
    if att:
        mode = "read-only" if att["read_only"] else "read-write"
        lines.append(f"  attached    {att['workload']} at {att['mount']} ({mode}, release "
                     f"{att['release']}, count {att['count']})")
        running = ", ".join(i["id"] for i in v.get("instances", [])) or "none right now"
        lines.append(f"  instances   {running}")
        if v.get("placement"):
            lines.append(f"  placement   {v['placement']}")
    else:
        lines.append("  attached    no: add a [[volumes]] entry (name, workload, mount) to "
                     "plat.toml and deploy")
    snaps = v.get("snapshots") or []
    if snaps:
        lines.append(f"  snapshots   {len(snaps)}:")
        lines += [f"    {s['name']}  {format_utc(s['created_at'], millis=False)}  "
                  f"{s['size_label']}  by {s['created_by']}  ({s['seconds']:.2f}s)" for s in snaps]
    else:
        lines.append("  snapshots   none")
    lines.append("Commands:")
    lines += [f"  {cmd}" for cmd in v["commands"].values()]
    return lines


VOLUME_HEADERS = ("VOLUME", "SIZE", "USED", "HOST", "ATTACHED", "SNAPSHOTS")


def volume_row(v: dict[str, Any]) -> list[Any]:
    """One volume as `plat volumes list` (and the TUI's Volumes table) shows it."""
    u, att = v["usage"], v["attached"]
    return [v["name"], v["size_label"], u["used_label"] if u else "-", v["host"]["name"],
            f"{att['workload']}:{att['mount']}" if att else "-", len(v["snapshots"])]
