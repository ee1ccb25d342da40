"""Log lines and the notes around them: ``plat logs`` and the TUI's Logs panel.

The line format is stable (scripts cut it at spaces), and what is missing is always said:
hosts that could not be reached, older lines beyond --limit, lines dropped for the budget.
"""

from __future__ import annotations

from platd.spec.timeparse import format_utc
from tui.render.text import printable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def unreachable_lines(page: dict[str, Any]) -> list[str]:
    """Hosts whose log lines a cluster-wide read could not get: said, never silently missing."""
    return [f"host {u['host']} could not be reached: its lines are missing here ({u['error']})"
            for u in page.get("unreachable") or []]


def follow_host_changes(page: dict[str, Any], down: set[str]) -> list[str]:
    """``plat logs -f`` on a cluster: a note when a host is lost and when it is back (``down``,
    the hosts lost so far, is kept up to date)."""
    now = {str(u["host"]): str(u["error"]) for u in page.get("unreachable") or []}
    notes = [f"host {host} cannot be reached ({now[host]}): following the other hosts; its "
             "lines follow from where they stopped once it is back" for host in sorted(now)
             if host not in down]
    notes += [f"host {host} is back: its lines follow from where they stopped"
              for host in sorted(down - now.keys())]
    down.clear()
    down.update(now)
    return notes


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


def older_lines_note(shown: int) -> str:
    """``plat logs`` at a terminal, when more history exists than --limit showed."""
    return f"(older lines exist: raise --limit or narrow with --since; showing {shown})"


def dropped_lines_note(dropped: dict[str, Any]) -> str:
    """``plat logs``, when the history reaches back to lines dropped for the log budget."""
    return (f"(note: {int(dropped['lines']):,} older lines of this env were dropped, up to "
            f"{format_utc(float(dropped['through']))}, to keep the log store within its "
            "budget (env_logs_max_bytes and logs_max_bytes in the host's platd.toml))")
