"""One event as a line: the form ``plat events``, ``plat deploy --wait``, ``plat describe`` and
the TUI's Events panel all show.

Its own module because every stream of events (followed, listed, or inside a description)
must line up the same way, multi-line messages indented under their event.
"""

from __future__ import annotations

from platd.spec.timeparse import format_utc

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

EVENT_MORE = "    "  # how a line of an event's message after the first sits under the event


def event_line(e: dict[str, Any], indent: str = "") -> str:
    """One event (``indent`` before it); a message of several lines (the last log lines of a
    failed instance) goes on indented under its event, so the next event stands out."""
    where = "/".join(p for p in (e.get("workload"), e.get("instance_id")) if p)
    category = f" [{e['category']}]" if e.get("category") else ""
    first, *rest = str(e["message"]).split("\n")
    head = (f"{indent}{format_utc(e['at'])}  {e['step']:<8} {e['outcome']:<7} "
            f"{where or '-':<20} {first}{category}")
    return "\n".join([head, *(f"{indent}{EVENT_MORE}{line}" for line in rest)])
