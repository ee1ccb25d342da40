"""Times as people type them on the command line: "10m", "2h", "1d", or an ISO-8601 timestamp."""

from __future__ import annotations

import math
import re
import time

from platd.spec.errors import InvalidInput

# datetime is imported only to read timestamps: every listing formats times, and plat pays
# ~1 ms at each start for datetime.

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_DAYS = 36_500  # a century: longer spans only overflow the clocks that use them
# Times are stored as nanoseconds in signed 64-bit integers: up to 2262-04-11.
_LAST_TIME = 2**63 / 1e9


def parse_duration(text: str) -> float:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise InvalidInput(f"cannot read duration {text[:64]!r}",
                           hint="write a number and a unit: 30s, 10m, 2h, 1d")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if not seconds <= MAX_DURATION_DAYS * 86400:  # also refuses inf from a thousand digits
        raise InvalidInput(f"duration {text[:64]!r} is longer than {MAX_DURATION_DAYS}d",
                           hint=f"use at most {MAX_DURATION_DAYS}d, or a timestamp")
    return seconds


def parse_time(text: str, now: float) -> float:
    """Unix seconds for ``text``: a duration means that long ago; else an ISO timestamp (UTC)."""
    text = text.strip()
    if _DURATION_RE.match(text):
        return now - parse_duration(text)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"cannot read time {text[:64]!r}",
            hint="use a duration like 10m or 2h, or a timestamp like 2026-11-27T09:30:00Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        stamp = moment.timestamp()
    except (OverflowError, ValueError):  # year 1 or 9999 in a far time zone
        stamp = -1.0
    if not 0 <= stamp < _LAST_TIME:
        raise InvalidInput(f"time {text[:64]!r} is outside 1970 to 2262",
                           hint="use a timestamp like 2026-11-27T09:30:00Z, or a duration")
    return stamp


def format_utc(ts: float, *, millis: bool = True) -> str:
    """``2026-11-27T09:30:00.123Z``; the milliseconds truncated from microseconds rounded as
    ``datetime.fromtimestamp`` rounds them, so both agree to the digit."""
    fraction, whole = math.modf(ts)
    micro = round(fraction * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(whole)))
    if millis:
        text += f".{micro // 1000:03d}"
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
