"""Retention of the log store: by age and by size, oldest lines first, in small steps.

Set in ``platd.toml``::

    logs_max_age = "7d"      # lines older than this go; "0" keeps lines of any age
    logs_max_bytes = "1G"    # the host's budget: pages in use stay under this; "0": no limit
    env_logs_max_bytes = "256M"  # one env's lines stay under this; "0": no per-env limit

The host budget is also held to a tenth of the data directory's filesystem (a 1G default on an
8G disk would be too much). One env's lines are counted in ``env_usage`` (message bytes plus
``ROW_BYTES`` a line), kept up to date by every insert and delete; an env over its limit loses
its own oldest lines first, so one noisy env cannot push every other env's history out.
Lines dropped for a budget (not for age) are counted per env, and ``plat logs`` says so where
the gap is.

Size is measured the way SQLite stores it: pages in use (lines plus their indexes), not the
file's length. Freed pages are reused for new lines rather than handed back to the filesystem,
so the file settles near the limit and stays there. When the store goes over the limit, the
oldest lines are deleted until it is under ``TRIM_TO`` of it, so trimming happens now and then
in a burst of small steps rather than after every batch.

"Oldest" is arrival order (``seq``), which is time order except for the lines of a container
read late (after a platd restart, say). Each step deletes at most ``CHUNK`` lines in its own
short transaction on the writer thread, between batches of new lines: ingestion waits for one
step at most, never for the whole trim.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from platd.spec.errors import InvalidInput

__all__ = ["CHUNK", "DEFAULT_MAX_AGE", "DEFAULT_MAX_BYTES", "ROW_BYTES", "Retention",
           "delete_lines", "used_bytes"]

DEFAULT_MAX_AGE = "7d"
DEFAULT_MAX_BYTES = "1G"
MIN_BYTES = 1024 * 1024
CHUNK = 2000
TRIM_TO = 0.9
ROW_BYTES = 48  # what a line costs beyond its message (row, three index entries), for env_usage


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's pages that hold data (its file length minus free pages)."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


@dataclass
class Retention:
    """Limits (0 disables one) and the trimming state the writer thread keeps between steps."""

    max_age: float = 0.0  # seconds
    max_bytes: int = 0
    max_env_bytes: int = 0
    trimming: bool = field(default=False, compare=False)

    @classmethod
    def from_settings(cls, max_age: str | float | int, max_bytes: str | int,
                      max_env_bytes: int = 0, disk_bytes: int = 0) -> Retention:
        """Read ``logs_max_age``/``logs_max_bytes``; InvalidInput names the bad setting."""
        from platd.spec.sizes import parse_size
        from platd.spec.timeparse import parse_duration

        try:
            if isinstance(max_age, int | float) and not isinstance(max_age, bool):
                age = float(max_age)
            elif str(max_age).strip() in ("0", ""):
                age = 0.0
            else:
                age = parse_duration(str(max_age))
        except InvalidInput as exc:
            raise InvalidInput(f"logs_max_age: {exc.message}", hint=exc.hint) from None
        if age < 0:
            raise InvalidInput("logs_max_age must not be negative",
                               hint='e.g. "7d", or "0" for no limit')
        if str(max_bytes).strip() in ("0", ""):
            size = 0
        else:
            try:
                size = parse_size(max_bytes, what="logs_max_bytes", minimum=MIN_BYTES)
            except InvalidInput as exc:
                raise InvalidInput(exc.message, hint=exc.hint) from None
        if size and disk_bytes:
            size = min(size, max(disk_bytes // 10, MIN_BYTES))
        return cls(max_age=age, max_bytes=size, max_env_bytes=max_env_bytes)

    @property
    def active(self) -> bool:
        return self.max_age > 0 or self.max_bytes > 0 or self.max_env_bytes > 0

    def step(self, conn: sqlite3.Connection, now_ns: int, chunk: int = CHUNK) -> bool:
        """Delete at most ``chunk`` of the oldest lines past a limit; True if more is to do."""
        if self.max_age > 0:
            cutoff = now_ns - int(self.max_age * 1e9)
            with _transaction(conn):
                deleted = delete_lines(
                    conn, "seq < (SELECT MIN(seq) FROM lines) + ? AND ts < ?", (chunk, cutoff),
                    noted=False)
            if deleted > 0:
                return True
        if self.max_env_bytes > 0 and self._env_step(conn, chunk):
            return True
        if self.max_bytes > 0:
            used = used_bytes(conn)
            if used > self.max_bytes:
                self.trimming = True
            elif used <= self.max_bytes * TRIM_TO:
                self.trimming = False
            if self.trimming:
                bounds = conn.execute("SELECT MIN(seq), MAX(seq) FROM lines").fetchone()
                if bounds[0] is None:
                    self.trimming = False
                    return False
                low, high = int(bounds[0]), int(bounds[1])
                per_line = max(used / max(high - low + 1, 1), 1.0)
                excess = used - self.max_bytes * TRIM_TO
                count = int(min(max(excess / per_line, 100), chunk))
                with _transaction(conn):
                    delete_lines(conn, "seq < ?", (low + count,), noted=True)
                return True
        return False

    def _env_step(self, conn: sqlite3.Connection, chunk: int) -> bool:
        """Trim the env furthest over ``max_env_bytes`` (to ``TRIM_TO`` of it) by its oldest
        lines; True when something went."""
        row = conn.execute(
            "SELECT env, bytes FROM env_usage WHERE bytes > ? ORDER BY bytes DESC LIMIT 1",
            (self.max_env_bytes,),
        ).fetchone()
        if row is None:
            return False
        env, used = int(row[0]), int(row[1])
        lines = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM lines WHERE env = ? LIMIT ?)",
                             (env, chunk)).fetchone()[0]
        if not lines:  # the count drifted from the lines (a crash between them): start over
            with _transaction(conn):
                conn.execute("UPDATE env_usage SET bytes = 0 WHERE env = ?", (env,))
            return True
        excess = used - self.max_env_bytes * TRIM_TO
        per_line = max(used / max(lines, 1), 1.0) if lines < chunk else ROW_BYTES + 80
        count = int(min(max(excess / per_line, 100), chunk))
        with _transaction(conn):
            delete_lines(conn, "seq IN (SELECT seq FROM lines WHERE env = ? ORDER BY seq "
                         "LIMIT ?)", (env, count), noted=True)
        return True


def delete_lines(conn: sqlite3.Connection, where: str, args: tuple[object, ...], *,
                 noted: bool) -> int:
    """Delete the lines ``where`` selects, keeping ``env_usage`` true; ``noted`` counts them
    as dropped for a budget (``plat logs`` says so), not gone of age."""
    gone = conn.execute(
        f"SELECT env, COUNT(*), SUM(LENGTH(message)), MAX(ts) FROM lines WHERE {where} "
        "GROUP BY env", args).fetchall()
    conn.execute(f"DELETE FROM lines WHERE {where}", args)
    conn.executemany(
        "UPDATE env_usage SET bytes = MAX(bytes - ?, 0), dropped = dropped + ?, "
        "dropped_through = MAX(dropped_through, ?) WHERE env = ?",
        [(int(chars or 0) + n * ROW_BYTES, n if noted else 0, int(top) if noted else 0, env)
         for env, n, chars, top in gone])
    return sum(int(n) for _env, n, _c, _t in gone)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT on a connection in autocommit mode (rolled back on error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
