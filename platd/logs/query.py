"""Reading the log store: history pages and follow steps, planned for speed over millions.

History is ordered by time (``ts``, then ``seq`` for lines of the same nanosecond) and read
newest-first with a LIMIT, walking an index backwards, so a page costs the same over a thousand
lines or ten million. Which index walks depends on the filter:

- an instance: ``lines_instance``; a workload: ``lines_workload``. Both carry source and severity
  as trailing columns, so those filters are checked in the index without touching the table.
- anything else: ``lines_level``, keyed by (env, source, severity, ts): one walk per (source,
  severity) pair the filter allows, merged. Ten short walks at most, each stopping after a page,
  so a rare level is found without skipping over a million other lines, and an unfiltered page
  costs ten small walks instead of a fourth index on every insert.

Follow reads lines with ``seq`` past a cursor in ``seq`` order: the new lines are the tail of the
table, so the walk goes straight over the primary key. At most ``FOLLOW_SCAN`` lines are looked
at per step, so a follower with a narrow filter far behind never makes one slow request; the
cursor it gets back moves past everything looked at, matched or not.
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass

from platd.logs.severity import LEVELS
from platd.logs.store import APP, SYSTEM

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FOLLOW_SCAN", "Filter", "Row", "follow", "history", "top_seq"]

FOLLOW_SCAN = 100_000
COLUMNS = "seq, ts, workload, instance, release, source, stream, severity, flags, message"
Row = tuple[int, int, int | None, int | None, int | None, int, int, int, int, str]


@dataclass(frozen=True)
class Filter:
    """A resolved filter: interned ids, not names. ``-1`` ids match nothing (known names that
    have no lines yet)."""

    env: int
    workload: int | None = None
    instance: int | None = None
    source: int | None = None  # APP, SYSTEM, or None for both
    min_severity: int | None = None
    since: int | None = None  # unix ns, inclusive
    until: int | None = None  # unix ns, exclusive


def top_seq(conn: sqlite3.Connection) -> int:
    """The newest ``seq`` ever handed out (AUTOINCREMENT's high-water mark)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'lines'").fetchone()
    return int(row[0]) if row else 0


def _residual(f: Filter, *, skip_env: bool) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if not skip_env:
        where.append("env = ?")
        args.append(f.env)
    if f.since is not None:
        where.append("ts >= ?")
        args.append(f.since)
    if f.until is not None:
        where.append("ts < ?")
        args.append(f.until)
    return where, args


def history(
    conn: sqlite3.Connection, f: Filter, limit: int, before: tuple[int, int] | None = None
) -> tuple[list[Row], bool]:
    """The newest ``limit`` lines matching ``f`` (older than ``before`` = (ts, seq) if given),
    oldest first, and whether older ones exist."""
    where, args = _residual(f, skip_env=True)
    if before is not None:
        where.append("ts <= ? AND (ts < ? OR seq < ?)")
        args += [before[0], before[0], before[1]]
    fetch = limit + 1
    if f.instance is not None or f.workload is not None:
        if f.instance is not None:
            head, key = "lines INDEXED BY lines_instance", ["instance = ?"]
            keys: list[Any] = [f.instance]
            if f.workload is not None:
                key.append("workload = ?")
                keys.append(f.workload)
        else:
            head, key, keys = "lines INDEXED BY lines_workload", ["workload = ?"], [f.workload]
        if f.source is not None:
            key.append("source = ?")
            keys.append(f.source)
        if f.min_severity is not None:
            key.append("severity >= ?")
            keys.append(f.min_severity)
        rows = _walk(conn, head, key + where, keys + args, fetch)
    else:
        sources = [f.source] if f.source is not None else [APP, SYSTEM]
        levels = [v for v in LEVELS.values() if v >= (f.min_severity or 0)]
        walks = [
            _walk(conn, "lines INDEXED BY lines_level",
                  ["env = ?", "source = ?", "severity = ?", *where],
                  [f.env, source, level, *args], fetch)
            for source in sources for level in levels
        ]
        merged = heapq.merge(*walks, key=lambda r: (r[1], r[0]), reverse=True)
        rows = [row for _, row in zip(range(fetch), merged, strict=False)]
    more = len(rows) > limit
    page = rows[:limit]
    page.reverse()
    return page, more


def _walk(conn: sqlite3.Connection, table: str, where: list[str], args: list[Any],
          fetch: int) -> list[Row]:
    sql = (f"SELECT {COLUMNS} FROM {table} WHERE {' AND '.join(where)} "
           "ORDER BY ts DESC, seq DESC LIMIT ?")
    return conn.execute(sql, [*args, fetch]).fetchall()


def follow(conn: sqlite3.Connection, f: Filter, after: int, limit: int,
           scan: int = FOLLOW_SCAN) -> tuple[list[Row], int]:
    """Lines matching ``f`` with ``seq`` > ``after``, in ``seq`` order, and the next cursor."""
    top = top_seq(conn)
    if after > top:
        after = 0  # the store was replaced under the follower: everything in it is new to it
    upto = min(top, after + scan)
    # The unary "+" keeps SQLite on the primary key instead of an index on these columns.
    where = ["seq > ?", "seq <= ?", "+env = ?"]
    args: list[Any] = [after, upto, f.env]
    for column, value in (("workload", f.workload), ("instance", f.instance),
                          ("source", f.source)):
        if value is not None:
            where.append(f"+{column} = ?")
            args.append(value)
    if f.min_severity is not None:
        where.append("+severity >= ?")
        args.append(f.min_severity)
    if f.since is not None:
        where.append("+ts >= ?")
        args.append(f.since)
    if f.until is not None:
        where.append("+ts < ?")
        args.append(f.until)
    sql = f"SELECT {COLUMNS} FROM lines WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
    rows: list[Row] = conn.execute(sql, [*args, limit]).fetchall()
    cursor = rows[-1][0] if len(rows) == limit else upto
    return rows, cursor
