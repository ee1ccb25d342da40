"""How severe a log line is, read from the line itself.

Programs say it in many ways, so several readings are tried, first match wins:

1. a JSON object with a ``level``/``severity``/``lvl``/``levelname``/``log.level`` field, as
   text ("warning") or as a number (pino and bunyan: 10 trace .. 60 fatal);
2. logfmt's ``level=error``;
3. a level word near the start of the line: ``ERROR ...``, ``[warn] ...``, ``2024-01-01 12:00:00
   INFO ...``, ``error: ...``, Python's ``ERROR:root:...``, klog's ``E1127 10:04:50``, the
   ``<3>`` prefix of sd-daemon, and the first line of a Python traceback or a Go panic;
4. otherwise ``info``, whichever stream the line came on.

Why not ``warn`` for bare stderr: Python's logging, Go's ``log`` package, nginx, busybox and most
web servers send ordinary chatter there (access lines, start-up banners), so stderr alone says
nothing about severity; counting it as ``warn`` buried real warnings under health-probe access
lines in ``plat logs -s warn``. The lines that really are warnings or errors almost always say
so and are caught by the rules above.

platd's own health probes (``User-Agent: platd-health``) are the platform talking to itself, not
the app: an access line that names that agent is ``debug``, whatever level word it carries.

Pure and fast (it runs for every line ingested): nothing here does I/O.
"""

from __future__ import annotations

import json
import re

__all__ = ["DEBUG", "ERROR", "FATAL", "INFO", "LEVELS", "WARN", "detect", "level_name",
           "parse_level"]

DEBUG, INFO, WARN, ERROR, FATAL = 10, 20, 30, 40, 50
LEVELS: dict[str, int] = {
    "debug": DEBUG, "info": INFO, "warn": WARN, "error": ERROR, "fatal": FATAL,
}
_NAMES = {v: k for k, v in LEVELS.items()}

# Every spelling seen in the wild, lower-cased, to a level.
_WORDS: dict[str, int] = {
    "trace": DEBUG, "debug": DEBUG, "dbg": DEBUG,
    "info": INFO, "inf": INFO, "information": INFO, "informational": INFO, "notice": INFO,
    "warn": WARN, "warning": WARN, "wrn": WARN,
    "error": ERROR, "err": ERROR, "eror": ERROR, "severe": ERROR,
    "fatal": FATAL, "critical": FATAL, "crit": FATAL, "panic": FATAL, "emerg": FATAL,
    "emergency": FATAL,
}
_WORD_ALT = "|".join(sorted(_WORDS, key=len, reverse=True))
_HEAD = 96  # only the start of a line is looked at for a level word

# A level word in capitals anywhere near the start (after a timestamp, a pid, a bracket...).
_UPPER = re.compile(rf"(?:^|[\s\[(<|])({_WORD_ALT.upper()})(?=[\s\]):>|,;.-]|$)")
# Any case, but only at the very start ("error: ...", "Warning: ...") or in brackets ("[warn]").
_LEADING = re.compile(rf"^[\[(<]?({_WORD_ALT})(?=[\s\]):>|,;-]|$)", re.IGNORECASE)
_BRACKETED = re.compile(rf"[\[(<]({_WORD_ALT})[\])>]", re.IGNORECASE)
_LOGFMT = re.compile(r"(?:^|\s)(?:level|lvl|severity)=\"?([A-Za-z]+)")
_KLOG = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
_KLOG_LEVELS = {"I": INFO, "W": WARN, "E": ERROR, "F": FATAL}
_SD_DAEMON = re.compile(r"^<([0-7])>")
_SD_LEVELS = [FATAL, FATAL, FATAL, ERROR, WARN, INFO, INFO, DEBUG]
_CRASH = re.compile(
    r"^(?:Traceback \(most recent call last\):|panic: |fatal error: |Exception in thread "
    r"|[A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception): )"
)
_PROBE_AGENT = "platd-health"  # the User-Agent of platd's HTTP health probe (reconcile.health)
_JSON_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "loglevel", "@l")
_MAX_JSON = 64 * 1024


def level_name(level: int) -> str:
    """The name shown for a stored level: debug, info, warn, error or fatal."""
    return _NAMES.get(level, "info")


def parse_level(text: str) -> int | None:
    """A level from its name in any common spelling ("WARNING", "err", "4"); None if unknown."""
    word = text.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    if word in LEVELS:
        return LEVELS[word]
    return None


def _from_number(value: float) -> int | None:
    # pino/bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    if value >= 60:
        return FATAL
    if value >= 50:
        return ERROR
    if value >= 40:
        return WARN
    if value >= 30:
        return INFO
    if value >= 10:
        return DEBUG
    return None


def _from_json(text: str) -> int | None:
    if len(text) > _MAX_JSON or not text.rstrip().endswith("}"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in _JSON_KEYS:
        value = data.get(key)
        if value is None and key == "log.level":
            nested = data.get("log")
            value = nested.get("level") if isinstance(nested, dict) else None
        if isinstance(value, bool):
            continue
        if isinstance(value, str):
            found = parse_level(value)
            if found is not None:
                return found
        elif isinstance(value, int | float):
            found = _from_number(value)
            if found is not None:
                return found
    return None


def detect(text: str, stream: int) -> int:
    """The level of one line; ``stream`` is 1 for stdout, 2 for stderr, 0 for none."""
    if _PROBE_AGENT in text:
        return DEBUG
    head = text[:_HEAD]
    first = head[:1]
    if first == "{":
        found = _from_json(text)
        if found is not None:
            return found
    m = _LEADING.match(head)
    if m is not None:
        return _WORDS[m.group(1).lower()]
    m = _UPPER.search(head)
    if m is not None:
        return _WORDS[m.group(1).lower()]
    m = _BRACKETED.search(head)
    if m is not None:
        return _WORDS[m.group(1).lower()]
    if "=" in head:
        m = _LOGFMT.search(head)
        if m is not None:
            found = parse_level(m.group(1))
            if found is not None:
                return found
    if first == "<":
        m = _SD_DAEMON.match(head)
        if m is not None:
            return _SD_LEVELS[int(m.group(1))]
    if first in _KLOG_LEVELS:
        m = _KLOG.match(head)
        if m is not None:
            return _KLOG_LEVELS[m.group(1)]
    if _CRASH.match(head) is not None:
        return ERROR
    return INFO
