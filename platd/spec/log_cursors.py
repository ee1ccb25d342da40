"""The cursor of ``plat logs --follow`` on a cluster: where the follow is on every host.

Each host numbers its own log lines, so a follow across hosts carries one cursor per host, and
whether that host could be reached at the last step (so the front end says once when a host is
lost and once when it is back, and a host found again resumes from its own cursor: nothing it
stored meanwhile is skipped). On the wire it is text, ``HOST:SEQ`` per host, comma separated,
``-`` for a host whose cursor is not known yet (never reached), ``:u`` after a host that could
not be reached. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from platd.spec.errors import InvalidInput
from platd.spec.input_limits import MAX_CLUSTER_CURSOR, MAX_CURSOR

MAX_HOSTS = 256
_ENTRY = re.compile(r"^(?P<host>[A-Za-z0-9_-]{1,64}):(?P<seq>-|\d{1,19})(?P<u>:u)?$")
HINT = "start the follow again (plat logs -f): this cursor is the one a previous answer gave"


@dataclass(frozen=True)
class HostCursor:
    seq: int | None  # the host's last line shown; None: not reached yet
    unreachable: bool = False


def parse(text: str) -> dict[str, HostCursor]:
    if len(text) > MAX_CLUSTER_CURSOR:
        raise InvalidInput(f"cursors is longer than {MAX_CLUSTER_CURSOR} characters", hint=HINT)
    out: dict[str, HostCursor] = {}
    for entry in filter(None, text.split(",")):
        m = _ENTRY.match(entry)
        if m is None:
            raise InvalidInput(f"cursors: {entry[:80]!r} is not HOST:SEQ", hint=HINT)
        seq = None if m["seq"] == "-" else int(m["seq"])
        if seq is not None and seq > MAX_CURSOR:
            raise InvalidInput(f"cursors: {entry[:80]!r} is out of range", hint=HINT)
        out[m["host"]] = HostCursor(seq, bool(m["u"]))
        if len(out) > MAX_HOSTS:
            raise InvalidInput(f"cursors names more than {MAX_HOSTS} hosts", hint=HINT)
    return out


def render(cursors: dict[str, HostCursor]) -> str:
    return ",".join(
        f"{host}:{'-' if c.seq is None else c.seq}{':u' if c.unreachable else ''}"
        for host, c in sorted(cursors.items()))
