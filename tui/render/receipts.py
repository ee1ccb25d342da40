"""What plat says when a change is accepted: the receipt of a deploy, rollback, retry or scale.

A receipt is the user's record of what they asked for and what will happen next (the images,
the config and secret versions, the diff, whether the rollout is stop-first, the follow-up
commands), so the CLI and the TUI must print it in the same words.
"""

from __future__ import annotations

from tui.render.text import digest_short

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


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
