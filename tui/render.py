"""The words plat shows people: receipts, status tables, event lines, failure summaries.

Every front end (CLI, TUI, web console) renders API results through these functions, so the
same thing is always said the same way. They take the API's plain dicts and return lines of
text; they never print and never call the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from platd.spec.errors import DaemonUnreachable, InvalidInput, PlatError, Unauthenticated
from platd.spec.sizes import format_size
from platd.spec.timeparse import format_age, format_utc


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells]


def short(release_id: str | None) -> str:
    return (release_id or "-")[-12:]


def digest_short(image: str) -> str:
    repo, _, digest = image.partition("@")
    return f"{repo}@{digest[:19]}" if digest else image


def receipt(r: dict[str, Any]) -> list[str]:
    """The receipt of a deploy or a rollback."""
    rel = r["release"]
    verb = {"deploy": "accepted", "rollback": "is the target of a rollback",
            "retry": "is retried"}.get(r["action"], "")
    if r.get("dry_run") and r["action"] == "retry":
        lines = [f"Retry release {rel['version']} ({rel['id']}) of {r['target']}?"]
    elif r.get("dry_run"):
        lines = [f"Roll {r['target']} back to release {rel['version']} ({rel['id']})?"]
    else:
        lines = [f"Release {rel['version']} ({rel['id']}) {verb} for {r['target']}"]
    if r["action"] == "rollback" and r.get("chosen_automatically"):
        lines.append(f"  chosen: {rel['version']} is the most recent release before the current "
                     "one that converged healthy")
        lines += [f"  skipped: {s['version']} ({s['why']})" for s in r.get("skipped") or []]
    if r.get("failed_before"):
        lines += failed_before_lines(r["failed_before"])
    for workload, image in sorted(rel["images"].items()):
        lines.append(f"  image   {workload}: {digest_short(image)}")
    secrets = ", ".join(sorted(rel["secret_versions"])) or "none"
    lines.append(f"  config  version {rel['config_version']}; secret bundles: {secrets}")
    optional = r.get("optional_env")
    if optional and (optional["set"] or optional["unset"]):
        lines.append(f"  optional env set: {', '.join(optional['set']) or 'none'}"
                     + (f"; unset: {', '.join(optional['unset'])}" if optional["unset"] else ""))
    prev = r.get("previous_release")
    lines.append(f"Changes from v{prev['seq']}:" if prev else "Changes (first release):")
    lines += [f"  {line}" for line in r["diff"]["lines"]]
    if r.get("notes"):
        lines.append("Notes:")
        lines += [f"  {note}" for note in r["notes"]]
    lines += stop_first_lines(r.get("stop_first") or [])
    lines.append("Next:")
    lines += [f"  {cmd}" for cmd in r["follow_ups"]]
    return lines


def unchanged_receipt(r: dict[str, Any], force_command: str) -> list[str]:
    """A deploy that would change nothing: no release is made and nothing starts."""
    rel = r["release"]
    return [f"Nothing changed: {r['target']} already runs release {rel['version']} ({rel['id']}) "
            "with this manifest, these image digests, this config and these secret versions",
            "  no release was created and no instance was started or stopped",
            f"  {rel['version']} is {rel['status']}",
            "To roll it out again anyway (new instances replace the running ones):",
            f"  {force_command}",
            "Next:", *(f"  {cmd}" for cmd in r["follow_ups"])]


def starter_manifest(app: str, image: str, port: int | None) -> str:
    """What ``plat init`` writes: one workload of ``image``, each line saying what it does."""
    lines = [
        "# Written by plat init; reference: docs/manifest.md",
        f'app = "{app}"',
        "",
        "[env]",
        "required = []                 # env vars a deploy needs set: plat config set KEY=...",
        "optional = []                 # env vars the app reads when set; others are refused",
        "",
        "[workloads.web]",
        f'image = "{image}"',
        "count = 1",
        "cpu = 0.25                    # cores per instance",
        'memory = "128M"',
    ]
    if port is not None:
        lines += [
            "",
            "[workloads.web.health]",
            f"tcp = {port}                  # ready when this port accepts; or "
            f'http = {{ port = {port}, path = "/healthz" }}',
            "",
            "# Expose it (IPv6; add ipv4 = true for IPv4 too), then: plat endpoints check public",
            "# [[endpoints]]",
            '# name = "public"',
            '# workload = "web"',
            f"# internal_port = {port}",
            "# external_ports = [80]",
        ]
    return "\n".join(lines) + "\n"


def init_lines(path: str, app: str, target: str | None) -> list[str]:
    """What ``plat init`` says once the file is written: what next, in order."""
    where = f" --target {target}" if target else " --target ORG/PROJECT/" + app + "/ENV"
    return [f"wrote {path} for app {app}: one workload (web)",
            "Next:",
            f"  plat manifest check -f {path}",
            f"  plat deploy -f {path}{where}"]


def failed_before_lines(f: dict[str, Any]) -> list[str]:
    """The warning shown before rolling back to a release whose last rollout went wrong."""
    lines = [f"  warning: {f['version']} {f['summary']}"]
    if f.get("message"):
        lines.append(f"    {f['message']}")
    return lines


def rollback_question(f: dict[str, Any]) -> str:
    return f"Roll back to {f['version']} anyway? [y/N] "


def rolled_back_note(r: dict[str, Any]) -> str:
    """What the TUI says once a rollback (or a retry) it asked for is accepted."""
    what = "retry of" if r.get("action") == "retry" else "rollback to"
    return f"{what} {r['release']['version']} accepted; follow it in Events"


def stop_first_lines(items: list[dict[str, Any]]) -> list[str]:
    """Receipt lines for workloads that mount a volume read-write: their rollout is stop-first."""
    if not items:
        return []
    lines = ["Rollout:"]
    for item in items:
        if item["replacing"]:
            lines.append(f"  {item['workload']}: this rollout is stop-first: {item['reason']}")
        else:
            lines.append(f"  {item['workload']}: runs one instance, on the volume's host; later "
                         f"rollouts are stop-first: {item['reason']}")
    return lines


def scale_receipt(r: dict[str, Any]) -> list[str]:
    old, new = r["old"], r["new"]
    what = "Reset to plat.toml of" if r.get("reset") else "Scale of"
    lines = [
        f"{what} {r['workload']} in {r['target']} accepted (release {r['release']})",
        f"  count   {old['count']} -> {new['count']}",
        f"  cpu     {old['cpu']:g} -> {new['cpu']:g}",
        f"  memory  {old['memory']} -> {new['memory']}",
    ]
    if r.get("placement"):
        lines.append(f"  placement  {r['placement']} (where each instance runs: plat status)")
    lines.append("What happens:")
    lines += [f"  {line}" for line in scale_effects(r)]
    lines.append("Next:")
    lines += [f"  {cmd}" for cmd in r["follow_ups"]]
    return lines


EVENT_MORE = "    "  # how a line of an event's message after the first sits under the event


def scale_effects(r: dict[str, Any]) -> list[str]:
    """What a scale really does to running instances, in the order it happens."""
    old, new, w = r["old"], r["new"], r["workload"]
    more, effects = new["count"] - old["count"], []
    if r["replaces_instances"] and r.get("stop_first"):
        effects.append(f"cpu or memory changed: the instance is replaced stop-first: "
                       f"{r['stop_first']}")
    elif r["replaces_instances"] and min(old["count"], new["count"]):
        effects.append(f"cpu or memory changed: {min(old['count'], new['count'])} running "
                       "instance(s) are replaced one for one, each new one healthy before its "
                       "old one stops")
    if more > 0:
        effects.append(f"{more} new instance{'s' if more > 1 else ''} of {w} start"
                       f"{'' if more > 1 else 's'}; {'they serve' if more > 1 else 'it serves'}"
                       " once healthy")
    elif new["count"] == 0 < old["count"]:
        effects.append(f"every instance of {w} stops: {w} serves nothing until it is scaled up "
                       "again")
    elif more < 0:
        effects.append(f"{-more} instance{'s' if more < -1 else ''} of {w} stop"
                       f"{'' if more < -1 else 's'}; {new['count']} keep"
                       f"{'s' if new['count'] == 1 else ''} serving")
    if not effects:
        effects.append(f"nothing changes: {w} already runs {new['count']} × {new['cpu']:g} cpu, "
                       f"{new['memory']}")
    return effects


def event_line(e: dict[str, Any], indent: str = "") -> str:
    """One event (``indent`` before it); a message of several lines (the last log lines of a
    failed instance) goes on indented under its event, so the next event stands out."""
    where = "/".join(p for p in (e.get("workload"), e.get("instance_id")) if p)
    category = f" [{e['category']}]" if e.get("category") else ""
    first, *rest = str(e["message"]).split("\n")
    head = (f"{indent}{format_utc(e['at'])}  {e['step']:<8} {e['outcome']:<7} "
            f"{where or '-':<20} {first}{category}")
    return "\n".join([head, *(f"{indent}{EVENT_MORE}{line}" for line in rest)])


WORKLOAD_COLUMNS = ("WORKLOAD", "SERVING/DESIRED", "UPDATED", "RUNNING", "CPU", "MEMORY")


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


CHECK_OUTCOMES = {
    "refused": "the connection was refused: nothing listens there",
    "connect_timeout": "the connection timed out: the address does not answer from this host",
    "unreachable": "the address cannot be reached from this host",
    "closed": "the connection was accepted, then closed without a byte of answer",
    "reset": "the connection was reset before any answer",
    "answer_timeout": "connected, but no answer came within 5 s",
    "no_address": "the endpoint has no address (IPv6 and IPv4 are both off?)",
}


def endpoint_check_lines(r: dict[str, Any]) -> list[str]:
    """`plat endpoints check NAME`: one request through the endpoint, and what came back."""
    where = f" from host {r['from_host']}" if r.get("from_host") else ""
    head = f"Endpoint {r['name']} of {r['target']}: GET / to {r.get('address') or '-'}{where}"
    if r["answered"]:
        lines = [head, f"  answered  {printable(r['first_line'] or '')}",
                 f"  time      connect {r['connect_ms']:g} ms, first byte "
                 f"{r['first_byte_ms']:g} ms, total {r['total_ms']:g} ms",
                 f"  bytes     {r['bytes']}"]
    else:
        lines = [head, f"  no answer: {CHECK_OUTCOMES.get(r['outcome'], r['outcome'])}"]
        if r.get("connect_ms") is not None:
            lines.append(f"  time      connect {r['connect_ms']:g} ms, total {r['total_ms']:g} ms")
    proxy = r.get("proxy_header")
    lines.append(f"  PROXY v2  the app received: source {proxy['source']}, destination "
                 f"{proxy['destination']}" if proxy else "  PROXY     none (proxy_protocol off)")
    lines.append(f"  serving   {r['serving']} instance(s)")
    return lines


def endpoint_not_answering(r: dict[str, Any]) -> PlatError:
    """`plat endpoints check` when nothing answered: exit non-zero, with where to look."""
    from platd.spec.errors import Conflict

    why = CHECK_OUTCOMES.get(r["outcome"], r["outcome"])
    hint = [f"see what serves it: plat endpoints describe {r['name']} --target {r['target']}",
            f"see the instances: plat status --target {r['target']}"]
    if r["serving"] == 0:
        hint.insert(0, "no instance serves it: each needs to be running and healthy")
    return Conflict(f"endpoint {r['name']} did not answer: {why}", hint=hint)


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


def releases_lines(r: dict[str, Any]) -> list[str]:
    rows = [
        ["*" if x["current"] else "", x["version"], short(x["id"]),
         format_utc(x["created_at"], millis=False),
         x["created_by"], x["status"], x["config_version"],
         ", ".join(f"{w}={digest_short(i)}" for w, i in sorted(x["images"].items()))]
        for x in r["releases"]
    ]
    if not rows:
        return [f"{r['target']} has no releases yet"]
    return table(rows, ["", "RELEASE", "ID", "CREATED", "BY", "STATUS", "CONFIG", "IMAGES"])


def failure_lines(rel: dict[str, Any], target: str, previous_ok: str | None,
                  retry: str | None = None) -> list[str]:
    """What a failed rollout says: step, category, message, last logs, and the ways out.
    ``retry``: the command that made the release, to run again once the cause is fixed."""
    lines = [
        f"Rollout of {rel['version']} failed at step {rel.get('failed_step')} "
        f"(category: {rel.get('category')})",
    ]
    lines += [f"  {line}" if not line.startswith("  ") else line
              for line in (rel.get("error") or "").splitlines()]
    if previous_ok:
        lines.append(f"The instances of {previous_ok} keep serving.")
    lines += [
        "Next:",
        f"  plat events --release {rel['id']} --target {target}",
        f"  plat logs --since 15m --target {target}   # what the instances and platd wrote",
        f"  plat status --target {target}",
        f"  plat rollback --target {target}          # back to the last healthy release",
        f"  plat rollback {rel['version']} --target {target}   # retry it as it is, once the "
        "cause outside it is fixed (a scale, capacity, the registry)",
        f"  {retry or f'plat deploy -f plat.toml --target {target}'}   # retry after fixing "
        "the cause",
    ]
    return lines


def degraded_lines(rel: dict[str, Any], target: str) -> list[str]:
    """What `plat wait` says of a release that converged and then crash-looped."""
    lines = [f"Release {rel['version']} converged, then degraded"]
    lines += [f"  {line}" if not line.startswith("  ") else line
              for line in (rel.get("error") or "").splitlines()]
    lines += [
        "Next:",
        f"  plat events --release {rel['id']} --target {target}",
        f"  plat logs --since 15m --target {target}   # what the instances wrote",
        f"  plat rollback --target {target}          # back to the last healthy release",
    ]
    return lines


def instance_lines(instances: list[dict[str, Any]], now: float | None = None) -> list[str]:
    """`plat instances`: one row per instance, as `plat exec --instance` takes them."""
    rows = [[i["id"], i["workload"], i["release"], i["state"], i["health"],
             format_age(i["age_seconds"]) if i.get("age_seconds") is not None else "-",
             i["host"][-12:]]
            for i in instances]
    return table(rows, ["INSTANCE", "WORKLOAD", "RELEASE", "STATE", "HEALTH", "AGE", "HOST"])


def exec_pick_title(workload: str | None, target: str, count: int) -> str:
    """The question `plat exec` asks when several instances are running."""
    what = f"workload {workload}" if workload else f"env {target}"
    return f"{what} has {count} running instances; pick one (--instance ID skips this):"


def exec_banner(started: dict[str, Any]) -> str:
    """The line `plat exec` prints on stderr before anything else: where the command runs."""
    i = started["instance"]
    return (f"plat: exec in instance {i['id']} (workload {i['workload']}, release {i['release']}, "
            f"host {i['host_name']} {i['host'][-12:]})")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and other invisible characters (escape sequences,
    carriage returns, bidi overrides, NUL...) shown as ``\\xNN``/``\\uNNNN``; tabs kept."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == "\t":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def unreachable_lines(page: dict[str, Any]) -> list[str]:
    """Hosts whose log lines a cluster-wide read could not get: said, never silently missing."""
    return [f"host {u['host']} could not be reached: its lines are missing here ({u['error']})"
            for u in page.get("unreachable") or []]


def log_line(line: dict[str, Any]) -> str:
    """One log line: UTC time (ms), source, [host:]workload/instance, severity, message.

    The format is stable (scripts may cut it at spaces: the first four fields never contain
    one). Lines the platform wrote over several lines continue indented; a piece of an overlong
    line that goes on in the next ends with `` [continues]``.
    """
    workload, instance = line.get("workload"), line.get("instance")
    where = "/".join(p for p in (workload, instance) if p) or "-"
    if line.get("host"):  # a cluster: the host that ran the instance, in the same field
        where = f"{line['host']}:{where}"
    first, *rest = str(line["message"]).split("\n")
    text = printable(first) + "".join(f"\n    {printable(part)}" for part in rest)
    if line.get("partial"):
        text += " [continues]"
    return (f"{format_utc(line['at'])} {line['source']:<6} {where:<20} "
            f"{line['severity']:<5} {text}")


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


def endpoint_lines(e: dict[str, Any], verb: str | None = None) -> list[str]:
    """An endpoint's details: what `plat endpoints create/describe` and deploy receipts say."""
    head = f"Endpoint {e['name']} of {e['target']}"
    lines = [f"{head} {verb}" if verb else head]
    if e.get("ipv6_address"):
        lines.append(f"  IPv6      {e['ipv6_address']}  port(s) "
                     + ", ".join(str(p) for p in e["external_ports"]))
    if e.get("ipv4_address"):
        lines.append(f"  IPv4      {e['ipv4_address']}  port(s) "
                     + ", ".join(str(p) for p in e["external_ports"]))
    else:
        lines.append("  IPv4      off")
    lines += [
        f"  reach     {'  '.join(e['addresses'])}",
        f"  to        workload {e['workload']}, port {e['internal_port']} ({e['protocol']})",
        f"  PROXY v2  {'on' if e.get('proxy_protocol') == 'v2' else 'off'}",
        f"  source    {'plat.toml of the current release' if e['source'] == 'manifest' else 'plat endpoints create'}",  # noqa: E501
    ]
    behind = e.get("instances") or []
    serving = [i["id"] for i in behind if i["serving"]]
    lines.append("  instances " + (", ".join(serving) if serving else "none serving yet"))
    idle = [f"{i['id']} ({i['state']}, {i['health']})" for i in behind if not i["serving"]]
    if idle:
        lines.append("  not serving: " + ", ".join(idle))
    if e.get("notes"):
        lines.append("Notes:")
        lines += [f"  {n}" for n in e["notes"]]
    return lines


ENDPOINT_HEADERS = ("NAME", "WORKLOAD", "INTERNAL", "PORTS", "IPV6", "IPV4", "PROXY", "SOURCE",
                    "SERVING")


def endpoint_row(e: dict[str, Any]) -> list[Any]:
    """One endpoint as `plat endpoints list` (and the TUI's Endpoints table) shows it."""
    return [e["name"], e["workload"], e["internal_port"],
            ",".join(str(p) for p in e["external_ports"]), e["ipv6_address"] or "off",
            e["ipv4_address"] or "off", e["proxy_protocol"] or "-", e["source"],
            sum(1 for i in e["instances"] if i["serving"])]


def endpoints_table(r: dict[str, Any]) -> list[str]:
    rows = [endpoint_row(e) for e in r["endpoints"]]
    if not rows:
        return [f"{r['target']} has no endpoints",
                f"  create one: plat endpoints create NAME --workload W --internal-port 8080 "
                f"--port 80 --target {r['target']}"]
    return table(rows, ENDPOINT_HEADERS)


EXPOSED_HEADERS = ("FAMILY", "ADDRESS", "PORT", "PROTO", "PROXY", "ENV", "WORKLOAD", "ENDPOINT",
                   "INSTANCES")


def exposed_row(x: dict[str, Any]) -> list[Any]:
    return [x["family"], x["address"], x["port"], x["protocol"], x["proxy_protocol"] or "-",
            x["target"], x["workload"], x["endpoint"], ",".join(x["instances"]) or "none serving"]


def exposed_lines(r: dict[str, Any]) -> list[str]:
    """`plat exposed`: everything in the org reachable from outside, one row per listener."""
    rows = [exposed_row(x) for x in r["exposed"]]
    if not rows:
        return [f"nothing in org {r['org']} is exposed"]
    return table(rows, EXPOSED_HEADERS)


VOLUME_HEADERS = ("VOLUME", "SIZE", "USED", "HOST", "ATTACHED", "SNAPSHOTS")


def volume_row(v: dict[str, Any]) -> list[Any]:
    """One volume as `plat volumes list` (and the TUI's Volumes table) shows it."""
    u, att = v["usage"], v["attached"]
    return [v["name"], v["size_label"], u["used_label"] if u else "-", v["host"]["name"],
            f"{att['workload']}:{att['mount']}" if att else "-", len(v["snapshots"])]


# --- the cluster's hosts: plat hosts, the cluster line of plat status, the TUI's Hosts tab -------

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


# --- what plat itself says: errors, notes beside a result, prompts ------------------------------


def error_lines(e: PlatError, as_json: bool = False) -> list[str]:
    """How a command's error is said: ``error: MESSAGE`` then indented hints (exact commands,
    mostly), or under --json the error's wire form on one line."""
    if as_json:
        return [json.dumps(e.to_wire(), sort_keys=True)]
    return [f"error: {e.message}", *(f"  {line}" for line in e.hint)]


def no_daemon(first_time: bool = False) -> Unauthenticated:
    """A command (or bare ``plat``) with no daemon URL stored or given."""
    if first_time:
        return Unauthenticated("plat does not know which daemon to talk to",
                               hint="log in first: plat login --api http://127.0.0.1:7400")
    return Unauthenticated(
        "plat does not know which daemon to talk to",
        hint="log in with: plat login --api http://127.0.0.1:7400 "
        "(or set PLAT_API and PLAT_TOKEN)",
    )


def no_exec_here() -> InvalidInput:
    """``plat exec`` run by a front end without a terminal to attach the session to."""
    return InvalidInput("this front end cannot open an exec session here",
                        hint="run plat exec in a shell, or press x in the TUI")


RESUME_EVENTS = "the last event shown"
RESUME_LINES = "the last line shown"


def cli_connection_lost(message: str) -> str:
    """The note (stderr) when a follow loses platd; stdout keeps only the stream."""
    return f"plat: {message}; reconnecting (Ctrl-C to stop)"


def cli_connection_back(resume: str) -> str:
    return f"plat: reconnected; going on from {resume}"


def pane_connection_lost(message: str) -> str:
    """The same, in a TUI panel (which has no Ctrl-C to offer)."""
    return f"{message}; reconnecting"


def pane_connection_back(resume: str) -> str:
    return f"reconnected; going on from {resume}"


def ignoring_reconnect_timeout(raw: str, default: float) -> str:
    return (f"plat: ignoring PLAT_RECONNECT_TIMEOUT={raw!r}: not a number of seconds above 0; "
            f"reconnecting for up to {default:g}s")


def gave_up_reconnecting(e: PlatError, waited: float, hint: list[str]) -> DaemonUnreachable:
    """The error a follow ends with when platd did not come back within its patience."""
    return DaemonUnreachable(
        f"{e.message}; gave up after {waited:g}s of trying to reconnect",
        hint=[*hint, *e.hint, "to wait longer next time, set PLAT_RECONNECT_TIMEOUT (seconds)"],
    )


def older_lines_note(shown: int) -> str:
    """``plat logs`` at a terminal, when more history exists than --limit showed."""
    return f"(older lines exist: raise --limit or narrow with --since; showing {shown})"


def dropped_lines_note(dropped: dict[str, Any]) -> str:
    """``plat logs``, when the history reaches back to lines dropped for the log budget."""
    return (f"(note: {int(dropped['lines']):,} older lines of this env were dropped, up to "
            f"{format_utc(float(dropped['through']))}, to keep the log store within its "
            "budget (env_logs_max_bytes and logs_max_bytes in the host's platd.toml))")


EXEC_WITHOUT_TTY = "plat: stdin is not a terminal, so the command runs without a TTY"


def exec_pick_list(running: list[dict[str, Any]], workload: str | None,
                   target: str) -> list[str]:
    """The numbered list ``plat exec`` shows before asking which instance."""
    header, *rows = instance_lines(running)
    return [exec_pick_title(workload, target, len(running)), f"     {header}",
            *(f"  {n:>2} {row}" for n, row in enumerate(rows, start=1))]


def exec_pick_prompt(count: int) -> str:
    return f"instance [1-{count}]: "


def exec_pick_again(count: int) -> str:
    return f"  type a number from 1 to {count}, or an instance id"


# --- the TUI's words about its own connection and about answers it cannot read ------------------


def pane_retrying(e: PlatError) -> tuple[str, str]:
    """A refreshing panel's note when its request fails: (the message, the rest); it keeps
    trying."""
    return e.message, (f" — {e.hint[0]}" if e.hint else "") + " (retrying)"


def pane_trouble(e: PlatError) -> str:
    """A following panel's note when its request fails; it keeps trying from its cursor."""
    if isinstance(e, DaemonUnreachable):
        return pane_connection_lost(e.message)
    return "".join(pane_retrying(e))


def unreadable_answer(what: str, data: Any, error: Exception) -> str:
    """platd answered ``what`` with a body this plat cannot read: empty, or of another shape
    (a platd of another version, or a fault)."""
    if data is None or data == "" or data == {} or data == []:
        return f"platd sent an empty answer to {what}"
    if isinstance(error, KeyError):
        return f"platd's answer to {what} has no {error.args[0]!r} in it"
    return f"platd's answer to {what} is not what this plat reads ({type(error).__name__})"


def command_unreadable(command: str, error: Exception) -> str:
    """A command run in the TUI stopped on an answer it could not read."""
    what = f"no {error.args[0]!r} in it" if isinstance(error, KeyError) else \
        type(error).__name__
    return (f"platd answered plat {command} with something this plat cannot read ({what}); "
            f"{UNREADABLE_HINT}")


UNREADABLE_HINT = ("platd and plat may be of different versions: compare plat --version with "
                   "platd --version")


def panel_failed(error: BaseException) -> str:
    """A TUI worker stopped on something unexpected; the app keeps running."""
    return f"a panel stopped on an unexpected error ({type(error).__name__}: {error}); " \
           "the rest of plat keeps running"


# --- destructive commands: type the name, or --yes ---------------------------------------------

DELETE_CONSEQUENCES = {
    "org": "the org goes; it must have no projects left",
    "project": "the project goes; it must have no apps left",
    "app": "the app goes; it must have no envs left",
    "env": "its instances are stopped and removed, and its releases, config and secrets can "
           "no longer be reached",
    "volume": "the volume's data and every snapshot of it are destroyed",
    "endpoint": "it stops listening at once: clients of its addresses are cut off",
    "token": "whoever uses it is refused from now on, and its open exec sessions end",
}


def confirm_note(kind: str, name: str, consequence: str) -> str:
    """What a destructive command says before it asks."""
    verb = "Revoking" if kind == "token" else "Deleting"
    return f"{verb} {kind} {name}: {consequence}."


def confirm_question(kind: str, name: str) -> str:
    verb = "revoke" if kind == "token" else "delete"
    return f"type the {kind}'s name ({name}) to {verb} it: "


def confirm_needed(kind: str, retry: str) -> InvalidInput:
    """A destructive command with nobody to ask and no --yes: refused, nothing sent."""
    verb = "revoking" if kind == "token" else "deleting"
    article = "an" if kind[0] in "aeiou" else "a"
    return InvalidInput(f"{verb} {article} {kind} needs a confirmation; nothing was changed",
                        hint=[f"run it on a terminal and type the {kind}'s name when asked",
                              f"or, in a script: {retry}"])


def not_confirmed(kind: str, name: str, typed: str | None, retry: str) -> InvalidInput:
    verb = "revoked" if kind == "token" else "deleted"
    why = "no name was typed" if not typed else f"{typed!r} is not its name"
    return InvalidInput(f"{kind} {name} not {verb}: {why}",
                        hint=f"type {name} exactly when asked, or: {retry}")
