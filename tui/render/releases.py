"""How a release's fate is said: the list of releases, a rollout that failed, one that
converged and then degraded.

A failure summary is the most-read text plat prints, so it has one shape everywhere: the step,
the category, the message and last log lines, what keeps serving, and the exact ways out.
"""

from __future__ import annotations

from platd.spec.timeparse import format_utc
from tui.render.text import digest_short, short, table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


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
