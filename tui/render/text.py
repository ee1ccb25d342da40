"""Shapes of text every other render module builds with: aligned tables, short ids and digests,
and text made safe to show on a terminal.

Kept apart so the modules that say one thing (a receipt, a host, a log line) share one table
layout and one escaping rule instead of each growing its own.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


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
