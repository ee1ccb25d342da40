"""The cluster's hosts in words: ``plat hosts`` (and its describe, join-token and remove), the
cluster line of ``plat status``, and the TUI's Hosts tab.

One module so a host's state, lag and "this host" mark read the same in the table, the
description and the status line.
"""

from __future__ import annotations

from platd.spec.sizes import format_size
from platd.spec.timeparse import format_age, format_utc
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

HOST_HEADERS = ("NAME", "STATE", "REGION", "LABELS", "CPU", "MEMORY", "LAG", "API")
THIS_HOST = " (this host)"


def lag_label(seconds: float | None) -> str:
    """How far this host is behind a host's writes: ``0.4 s``; ``-`` when nobody knows."""
    return "-" if seconds is None else f"{float(seconds):.1f} s"


def host_state(h: dict[str, Any]) -> str:
    if h.get("draining"):
        return f"{h['state']}, draining"
    return f"{h['state']}, cordoned" if h.get("cordoned") else str(h["state"])


def host_row(h: dict[str, Any]) -> list[Any]:
    """One host as `plat hosts` (and the TUI's Hosts table) shows it."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(h["labels"].items())) or "-"
    return [h["name"] + (THIS_HOST if h.get("this_host") else ""), host_state(h),
            h["region"] or "-", labels, f"{h['cpus']:g}" if h["cpus"] else "-",
            format_size(int(h["memory"])) if h["memory"] else "-", lag_label(h["lag_seconds"]),
            h["api"] or "-"]


def hosts_down(hosts: list[dict[str, Any]]) -> list[str]:
    """``["h3 failed"]``: every host that is not alive, with its state."""
    return [f"{h['name']} {h['state']}" for h in hosts if h["state"] != "alive"]


def cluster_summary(name: str, alive: int, total: int, down: list[str] | None = None) -> str:
    """``cluster edge: 3/3 hosts alive``, or ``cluster edge: 2/3 hosts alive — h3 failed``."""
    line = f"cluster {name}: {alive}/{total} hosts alive"
    return line + (" — " + ", ".join(down) if down else "")


def not_in_cluster_lines() -> list[str]:
    """What `plat hosts` (and the Hosts tab) say on a host of its own; the first line and
    the rest are also the error of the commands that need a cluster."""
    return ["this host is not in a cluster",
            "  make one with: platd init --cluster NAME --gossip IP:7946 "
            "--advertise https://IP:7400 (on a fresh data dir)",
            "  then add hosts with a token from: plat hosts join-token"]


def hosts_lines(r: dict[str, Any]) -> list[str]:
    """`plat hosts`: the table of members, then the cluster's summary line."""
    if not r.get("cluster"):
        return not_in_cluster_lines()
    rows = [host_row(h) for h in r["hosts"]]
    return [*table(rows, HOST_HEADERS),
            cluster_summary(r["cluster"], r["alive"], r["total"], hosts_down(r["hosts"]))]


def cluster_status_line(c: dict[str, Any], down: list[str] | None = None) -> str | None:
    """The line `plat status` adds on a cluster member (None on a host of its own), from
    ``GET /v1/cluster``; ``down`` names the hosts that are not alive, when known."""
    if not c.get("cluster"):
        return None
    line = cluster_summary(c["cluster"], c["alive"], c["total"], down)
    if c.get("last_sync") is None and c["total"] > 1:
        return line + ("; " if down else ", ") + "this host has not synced with a peer yet"
    return line + ("; " if down else ", ") + f"this host {lag_label(c['lag_seconds'])} behind"


def host_lines(h: dict[str, Any]) -> list[str]:
    """`plat hosts describe`: the host, its recent membership events, what can be done."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(h["labels"].items())) or "none"
    capacity = (f"{h['cpus']:g} cpus, "
                f"{format_size(int(h['memory'])) if h['memory'] else 'unknown'} memory")
    lag = ("-" if h.get("this_host") else
           "unknown" if h["lag_seconds"] is None else
           f"this host is {lag_label(h['lag_seconds'])} behind its writes")
    lines = [f"host {h['name']} ({h['id']})" + (THIS_HOST if h.get("this_host") else ""),
             f"  state     {host_state(h)}",
             f"  api       {h['api'] or '-'}",
             f"  gossip    {h['gossip'] or '-'}",
             f"  region    {h['region'] or '-'}",
             f"  labels    {labels}",
             f"  capacity  {capacity}",
             f"  joined    {format_utc(h['joined_at'], millis=False)} ({h['joined']} ago)",
             f"  lag       {lag}"]
    events = h.get("events") or []
    lines.append("Events:" if events else "Events: none")
    lines += [f"  {format_utc(e['at'])}  {e['outcome']:<7} {e['message']}" for e in events]
    if not h.get("this_host"):
        lines.append("Commands:")
        if h["state"] == "alive":
            lines.append(f"  plat hosts remove {h['name']}   # once it is gone for good: stop "
                         "its platd first")
        else:
            lines.append(f"  plat hosts remove {h['name']}   # forget it for good")
    return lines


def join_token_lines(t: dict[str, Any]) -> list[str]:
    """`plat hosts join-token`: the command a new host runs (the token is in it, shown once)."""
    return [
        f"Join token {t['id']}: single use, expires "
        f"{format_utc(t['expires_at'], millis=False)} (in {format_age(t['expires_in_seconds'])})",
        "On the new host, with a fresh data dir, run:",
        "",
        f"  {t['join']}",
        "",
        "with the new host's own addresses added: --gossip NEW_IP:7946 "
        "--advertise https://NEW_IP:7400",
        "then start it: platd serve --listen NEW_IP:7400",
        "The token is shown only this once; if it is lost, make another.",
    ]


def remove_host_prompt(h: dict[str, Any]) -> tuple[str, str]:
    """What `plat hosts remove` says before it asks (the note, then the question)."""
    return (f"Removing host {h['name']} ({h['id']}, {host_state(h)}) forgets it for good: "
            "every host drops it from the cluster.",
            f"type the host's name ({h['name']}) to remove it: ")
