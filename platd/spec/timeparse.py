"""Times as people type them on the command line: "10m", "2h", "1d", or an ISO-8601 timestamp."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from platd.spec.errors import InvalidInput

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise InvalidInput(f"cannot read duration {text!r}",
                           hint="write a number and a unit: 30s, 10m, 2h, 1d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_time(text: str, now: float) -> float:
    """Unix seconds for ``text``: a duration means that long ago; else an ISO timestamp (UTC)."""
    text = text.strip()
    if _DURATION_RE.match(text):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"cannot read time {text!r}",
            hint="use a duration like 10m or 2h, or a timestamp like 2026-11-27T09:30:00Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_utc(ts: float, *, millis: bool = True) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{int(moment.microsecond / 1000):03d}"
    return text + "Z"


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
