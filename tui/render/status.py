"""``plat status`` and the TUI's Status tab: the release, what is true of it now, the workload
and instance tables, placement, a full disk, the endpoints.

The summary distinguishes states users confuse (rolling out, scaling, degraded since the
rollout, failed but still serving), so both front ends take it from here.
"""

from __future__ import annotations

from collections import namedtuple

from platd.spec.sizes import format_size
from platd.spec.timeparse import format_age
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, NamedTuple

WORKLOAD_COLUMNS = ("WORKLOAD", "SERVING/DESIRED", "UPDATED", "RUNNING", "CPU", "MEMORY")
INSTANCE_COLUMNS = ("INSTANCE", "WORKLOAD", "RELEASE", "STATE", "HEALTH", "RESTARTS", "AGE",
                    "PORTS")
# Summary lines the Status tab shows in red: a failed rollout, a full disk, an engine away.
ALARMS = ("failed at ", "host ", "this host:")


if TYPE_CHECKING:
    class StatusRows(NamedTuple):
        """What the TUI's Status tab shows of ``GET .../status``, as plain text: the Textual
        panel (``widgets/status_panel.py``) and the frame bare ``plat`` paints before Textual is
        loaded (``tui/prepaint.py``) both draw this, so they cannot say different things."""

        summary: list[tuple[str, bool]]  # each line, and whether it is an alarm (shown in red)
        workloads: list[tuple[str, ...]]
        instances: list[tuple[str, ...]]  # the instance id first
else:
    # The same record at run time, without importing typing (``plat status`` start-up).
    StatusRows = namedtuple("StatusRows", ("summary", "workloads", "instances"))


def status_rows(s: dict[str, Any]) -> StatusRows:
    """The Status tab's summary and tables, in the CLI's words (``plat status``)."""
    head, *rest = status_summary(s)
    if not s.get("release"):
        rest = disk_lines(s.get("disk"))  # nothing deployed (the head says it), the disk still
    summary = [(head, False)]
    summary += [(line.strip(), line.strip().startswith(ALARMS)) for line in rest]
    summary += [(f"{w['name']}: pending: {r}", False) for w in s["workloads"]
                for r in w["pending"]]
    workloads = [tuple(row) for row in workload_rows(s)]
    instances: list[tuple[str, ...]] = []
    for w in s["workloads"]:
        for i in w["instances"]:
            ports = ", ".join(f"{v}->{k}" for k, v in sorted(i["ports"].items())) or "-"
            age = format_age(i["age_seconds"]) if i.get("age_seconds") is not None else "-"
            instances.append((str(i["id"]), w["name"], i["release"], i["state"], i["health"],
                              str(i["restarts"]), age, ports))
    return StatusRows(summary, workloads, instances)


def workload_rows(s: dict[str, Any]) -> list[list[str]]:
    """The workload table of ``plat status`` and the TUI's Status tab: what serves (healthy
    instances of any release) against the desired count, and how many run the current spec."""
    return [[w["name"], f"{_serving(w)}/{w['desired']}", str(w["current"]), str(w["running"]),
             f"{w['cpu']:g}", str(w["memory"])] for w in s["workloads"]]


def _serving(w: dict[str, Any]) -> int:
    return int(w.get("serving", w["healthy"]))


def _serving_text(w: dict[str, Any]) -> str:
    by = w.get("serving_releases") or {}
    which = ", ".join(f"{v}: {n}" for v, n in sorted(by.items()))
    return f"{_serving(w)}/{w['desired']}" + (f" ({which})" if which else "")


def status_summary(s: dict[str, Any]) -> list[str]:
    """The head of ``plat status`` and of the TUI's Status tab: the release, then what is
    true of it now, in the same words on every front end."""
    rel = s.get("release")
    target = s["target"]
    if rel is None:
        return [f"{target}: nothing deployed yet", *disk_lines(s.get("disk")),
                f"  deploy with: plat deploy -f plat.toml --target {target}"]
    status = rel.get("status")
    lines = [f"{target}  release {rel['version']} ({status})", *disk_lines(s.get("disk"))]
    for down in s.get("engine_unreachable") or ():
        # The rows below are what the host saw last, not what runs now.
        lines.append(f"  host {down['host'][-12:]}: {down['reason']}")
        lines.append("    its instances are shown as unknown until the engine answers again")
    if status == "failed" and rel.get("error"):
        lines.append(f"  failed at {rel.get('failed_step')} ({rel.get('category')}): "
                     f"{rel['error'].splitlines()[0]}")
    if status == "degraded" and rel.get("error"):
        lines.append(f"  {rel['error'].splitlines()[0]}")
    short = [w for w in s["workloads"] if w["current"] < w["desired"]]
    if not short:
        return lines
    if status == "failed":
        # The failed release's instances were stopped; count what still answers.
        lines.append("  still serving: " + ", ".join(f"{w['name']} {_serving_text(w)}"
                                                     for w in short))
    elif status in ("rolling", "pending"):
        lines.append(f"  rolling out {rel['version']}: "
                     + ", ".join(f"{w['name']} {w['current']}/{w['desired']} updated, serving "
                                 f"{_serving_text(w)}" for w in short))
    else:
        # "converged" is the rollout's outcome, which stays true. Instances still being added
        # (a scale-up) are scaling; instances that ran and went down mean it no longer holds.
        scaling = [w for w in short if "crashing" in w and not w["crashing"]]
        down = [w for w in short if w not in scaling]
        if scaling:
            lines.append("  scaling: " + ", ".join(
                f"{w['name']} {w['current']}/{w['desired']}" for w in scaling))
        if down:
            lines.append("  degraded since the rollout: "
                         + ", ".join(f"{w['name']} {w['current']}/{w['desired']}" for w in down)
                         + f" running and healthy; why: plat events --target {target}")
    return lines


def status_lines(s: dict[str, Any]) -> list[str]:
    lines = status_summary(s)
    if s.get("release") is None:
        return lines
    lines += ["", *table(workload_rows(s), WORKLOAD_COLUMNS)]
    for w in s["workloads"]:
        for reason in w["pending"]:
            lines.append(f"  {w['name']}: pending: {reason}")
        if w.get("placement"):
            lines.append(f"  {w['name']}: placement: {w['placement']}")
        lines += placed_lines(w)
        if w.get("rollout"):
            lines.append(f"  {w['name']}: rollout: {w['rollout']}")
    cluster = any("placed" in w for w in s["workloads"])
    inst_rows = []
    for w in s["workloads"]:
        for i in w["instances"]:
            ports = ", ".join(f"{v}->{k}" for k, v in sorted(i["ports"].items())) or "-"
            age = format_age(i["age_seconds"]) if i.get("age_seconds") is not None else "-"
            row = [i["id"], w["name"], i["release"], i["state"], i["health"], i["restarts"], age,
                   ports]
            inst_rows.append([*row, i.get("host_name") or i["host"][-12:]] if cluster else row)
    if inst_rows:
        head = ["INSTANCE", "WORKLOAD", "RELEASE", "STATE", "HEALTH", "RESTARTS", "AGE", "PORTS"]
        lines += ["", *table(inst_rows, [*head, "HOST"] if cluster else head)]
    lines += status_endpoint_lines(s)
    return lines


def placed_lines(w: dict[str, Any], indent: str = "  ") -> list[str]:
    """Where each instance slot of a workload runs and why; per host why not, if pending."""
    lines = []
    for slot in w.get("placed") or []:
        label = f"{w['name']}#{slot['slot']}"
        if slot["host_id"]:
            lines.append(f"{indent}{label} on {slot['host']}: {slot['why']}")
            continue
        lines.append(f"{indent}{label} {slot['why']}")
        for host, why in sorted((slot.get("why_not") or {}).items()):
            lines.append(f"{indent}  {host}: {why}")
    return lines


def disk_lines(disk: dict[str, Any] | None) -> list[str]:
    """The host's data disk, said only when it is full (docs/operations.md)."""
    if not disk or not disk.get("full"):
        return []
    where = f"host {disk['host']}" if disk.get("host") else "this host"
    return [f"  {where}: data disk FULL: {format_size(int(disk['free_bytes']))} free of "
            f"{format_size(int(disk['total_bytes']))} at {disk['path']}",
            "  changes that add data are refused until space is freed; reads, scaling and "
            "deletes work"]


def status_endpoint_lines(s: dict[str, Any]) -> list[str]:
    """`plat status`'s endpoints: where each is reached, which addresses accept a connection,
    how many instances serve it, and the one command that really asks it."""
    endpoints = s.get("endpoints") or []
    if not endpoints:
        return []
    lines = ["", "Endpoints:"]
    for e in endpoints:
        reach = ", ".join(f"{a['address']} {'listening' if a['listening'] else 'NOT listening'}"
                          for a in e["addresses"]) or "no address"
        serving = e["serving"]
        lines.append(f"  {e['name']} -> {e['workload']}: {reach}; "
                     f"{serving} instance{'' if serving == 1 else 's'} serving")
        lines.append(f"    does it answer? plat endpoints check {e['name']} "
                     f"--target {s['target']}")
    return lines
