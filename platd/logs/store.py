"""The log store: a SQLite file of its own (``DATA/logs.db``), shaped for ingest speed.

Why not the state database: log lines arrive thousands of times faster than state changes and
would starve the state writer; they need no replication stamps; and losing the log file must
never cost state. Why raw ``sqlite3`` rather than SQLModel: at 50,000 lines a second every
microsecond per line counts, and an ORM object per line costs tens of them.

Shape, in short (``SCHEMA`` below is the whole of it):
- ``lines``: one row per line; ``seq`` (AUTOINCREMENT, so never reused even after retention
  empties the table) is the follow cursor; ``ts`` is unix nanoseconds. Env, workload, instance
  and release are small integers interned in ``envs``/``names``, which keeps rows and indexes
  small. Three indexes serve the queries, each in time order: by workload, by instance, and by
  (env, source, severity), which also answers env-wide questions (see ``query``). Every index
  costs ingest time; a fourth one by (env, ts) would make no page faster than a few
  milliseconds and ingestion about a tenth slower.
- ``cursors``: where each container's output was read up to, written in the same transaction as
  its lines, so a restarted platd resumes without a gap or a duplicate.
- ``meta``: the event-log cursor of the system-line mirror, likewise.

One writer thread owns the only write connection. Everything that writes is a job on its queue;
the thread takes every job waiting (up to ``MAX_BATCH_LINES`` lines) into one transaction, so a
quiet host commits each line at once (low follow latency) and a busy one commits large batches
(high throughput). Retention runs on the same thread in small steps between batches, so it never
holds ingestion up for longer than one step. Readers use their own read-only connections; under
WAL they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from platd.logs import severity
from platd.logs.retention import ROW_BYTES, Retention

__all__ = ["APP", "INSTANCE", "RELEASE", "SYSTEM", "WORKLOAD", "LogStore", "Origin",
           "SystemLine"]

log = logging.getLogger("platd.logs")

T = TypeVar("T")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS envs (
    id INTEGER PRIMARY KEY,
    env_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS names (
    id INTEGER PRIMARY KEY,
    env INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    workload TEXT,
    UNIQUE (env, kind, name)
);
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    env INTEGER NOT NULL,
    workload INTEGER,
    instance INTEGER,
    release INTEGER,
    source INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_workload ON lines (workload, ts, seq, source, severity);
CREATE INDEX IF NOT EXISTS lines_instance ON lines (instance, ts, seq, source, severity);
CREATE INDEX IF NOT EXISTS lines_level ON lines (env, source, severity, ts);
CREATE TABLE IF NOT EXISTS cursors (
    container TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS env_usage (
    env INTEGER PRIMARY KEY,
    bytes INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    dropped_through INTEGER NOT NULL DEFAULT 0
);
"""

APP, SYSTEM = 0, 1  # lines.source
WORKLOAD, INSTANCE, RELEASE = 1, 2, 3  # names.kind
CONTINUES = 1  # lines.flags: the line goes on in the next line of the same stream

MAX_BATCH_LINES = 20_000
HIGH_WATER = 200_000  # lines queued before collectors pause (the engine's log file buffers)
RETENTION_EVERY = 1.0  # seconds between retention checks when nothing is over a limit
INSERT = (
    "INSERT INTO lines (ts, env, workload, instance, release, source, stream, severity, flags,"
    " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> str:
    """Text SQLite can hold: lone surrogates (undecodable bytes smuggled into a str) as \\xNN."""
    raw = text.encode("utf-8", errors="surrogatepass")
    return raw.decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True)
class Origin:
    """Where app lines come from: one instance of one workload of one env."""

    env_id: str
    workload: str
    instance: str
    release: str


@dataclass(frozen=True)
class SystemLine:
    """One of the platform's own records about an env (a mirrored event)."""

    ts: int
    env_id: str
    workload: str | None
    instance: str | None
    release: str | None
    severity: int
    message: str


@dataclass
class _AppLines:
    origin: Origin
    container: str
    lines: list[tuple[int, int, str, bool]]
    cursor: str


@dataclass
class _SystemLines:
    lines: list[SystemLine]
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]


_STOP = object()
_Job = _AppLines | _SystemLines | _Call | object


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.execute("PRAGMA cache_size=-16000")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def create_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        from platd.spec.errors import PlatError

        raise PlatError(
            f"{path} was written by a newer platd (log schema {version}, this one knows "
            f"{SCHEMA_VERSION})",
            hint="run the newer platd, or move the file away to start a new log store",
        )
    conn.executescript(SCHEMA)  # writes nothing when every table is there
    if version != SCHEMA_VERSION:  # a write only when needed: platd starts on a full disk
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    if (conn.execute("SELECT 1 FROM lines LIMIT 1").fetchone()
            and not conn.execute("SELECT 1 FROM env_usage LIMIT 1").fetchone()):
        # A store from before env_usage: count what each env holds, once.
        conn.execute("INSERT INTO env_usage (env, bytes) SELECT env, "
                     f"SUM(LENGTH(message)) + COUNT(*) * {ROW_BYTES} FROM lines GROUP BY env")


class LogStore:
    """The log database of one host: a writer thread, read-only readers, and wake-ups."""

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._writer = connect(path)
        create_schema(self._writer, path)
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._env_ids: dict[str, int] = {}
        self._name_ids: dict[tuple[int, int, str], int] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._names: dict[int, str] = {}  # names.id -> name, for readers (ids never change)
        # Called on the writer thread after every commit of new lines: wakes followers.
        self.listeners: list[Callable[[], None]] = []
        self.failed: BaseException | None = None
        self._closed = False
        # Lines the disk had no room for, per env id: (count, newest ts), noted in env_usage by
        # the next transaction that succeeds.
        self._lost: dict[str, tuple[int, int]] = {}
        self._usage: dict[int, int] = {}  # bytes added per env in the open transaction
        # The newest seq committed, as the writer last saw it (followers use it as a hint).
        row = self._writer.execute("SELECT seq FROM sqlite_sequence WHERE name = 'lines'")
        found = row.fetchone()
        self.top = int(found[0]) if found else 0
        self._thread = threading.Thread(target=self._run, name="platd-logs-writer", daemon=True)
        self._thread.start()

    # --- writing -------------------------------------------------------------------------------

    def submit_app(self, origin: Origin, container: str, lines: list[tuple[int, int, str, bool]],
                   cursor: str) -> None:
        """Queue a container's lines and the cursor just after them; never blocks."""
        self._add_pending(len(lines))
        self._queue.put(_AppLines(origin, container, lines, cursor))

    def submit_system(self, lines: list[SystemLine], meta: dict[str, str]) -> None:
        self._add_pending(len(lines))
        self._queue.put(_SystemLines(lines, meta))

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        """Run ``fn(connection)`` on the writer thread inside its next transaction."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Call(fn, future))
        return future

    async def flush(self) -> None:
        """Return once everything queued before this call is committed."""
        if self._closed or self.failed is not None:
            return
        await asyncio.wrap_future(self.call(lambda _conn: None))

    @property
    def pending(self) -> int:
        return self._pending

    async def room(self) -> None:
        """Wait while the writer is far behind, so a flood of output is held by the engine's
        log file (which keeps it) rather than by platd's memory."""
        while self._pending > HIGH_WATER and not self._closed:
            await asyncio.sleep(0.01)

    def _add_pending(self, n: int) -> None:
        with self._pending_lock:
            self._pending += n

    def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def _run(self) -> None:
        conn = self._writer
        next_retention = time.monotonic() + RETENTION_EVERY
        more_retention = False
        try:
            while True:
                jobs: list[_Job] = []
                try:
                    wait = 0.0 if more_retention else max(0.0, next_retention - time.monotonic())
                    jobs.append(self._queue.get(timeout=wait) if wait else self._queue.get_nowait())
                except queue.Empty:
                    pass
                lines = 0
                while jobs and lines < MAX_BATCH_LINES:
                    last = jobs[-1]
                    if last is _STOP:
                        break
                    lines += len(last.lines) if isinstance(last, _AppLines | _SystemLines) else 0
                    try:
                        jobs.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = bool(jobs) and jobs[-1] is _STOP
                work = [j for j in jobs if j is not _STOP]
                if work:
                    self._apply(conn, work)
                now = time.monotonic()
                if more_retention or now >= next_retention:
                    more_retention = self._retention_step(conn)
                    next_retention = now + RETENTION_EVERY
                if stop:
                    break
        except BaseException as exc:
            self.failed = exc
            log.exception("the log writer stopped")
        finally:
            conn.close()

    def _apply(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[concurrent.futures.Future[Any], Any]] = []
        count = 0
        self._usage = {}
        lost, self._lost = self._lost, {}
        try:
            conn.execute("BEGIN IMMEDIATE")
            for env_id, (n, top) in lost.items():
                conn.execute(
                    "INSERT INTO env_usage (env, dropped, dropped_through) VALUES (?, ?, ?) "
                    "ON CONFLICT (env) DO UPDATE SET dropped = dropped + excluded.dropped, "
                    "dropped_through = MAX(dropped_through, excluded.dropped_through)",
                    (self._env(conn, env_id), n, top))
            for job in jobs:
                if isinstance(job, _AppLines):
                    count += len(job.lines)
                    self._insert_app(conn, job)
                elif isinstance(job, _SystemLines):
                    count += len(job.lines)
                    self._insert_system(conn, job)
                elif isinstance(job, _Call):
                    try:
                        results.append((job.future, job.fn(conn)))
                    except Exception as exc:
                        job.future.set_exception(exc)
            conn.executemany(
                "INSERT INTO env_usage (env, bytes) VALUES (?, ?) ON CONFLICT (env) "
                "DO UPDATE SET bytes = bytes + excluded.bytes", list(self._usage.items()))
            conn.execute("COMMIT")
        except Exception as exc:  # a full disk, a bug: drop this batch, never the writer
            log.error("could not store %d log lines: %s", count, exc)
            self._lost = _merge_lost(lost, jobs)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._env_ids.clear()  # ids handed out in the rolled-back transaction are void
            self._name_ids.clear()
            for future, _ in results:
                future.set_exception(exc)
            for job in jobs:
                if isinstance(job, _Call) and not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            with self._pending_lock:
                self._pending -= count
        for future, value in results:
            future.set_result(value)
        if count:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'lines'").fetchone()
            self.top = int(row[0]) if row else 0
            for listener in self.listeners:
                listener()

    def _insert_app(self, conn: sqlite3.Connection, job: _AppLines) -> None:
        o = job.origin
        env = self._env(conn, o.env_id)
        workload = self._name(conn, env, WORKLOAD, o.workload, None)
        instance = self._name(conn, env, INSTANCE, o.instance, o.workload)
        release = self._name(conn, env, RELEASE, o.release, None)
        detect = severity.detect
        self._usage[env] = self._usage.get(env, 0) + sum(
            len(text) + ROW_BYTES for _ts, _stream, text, _c in job.lines)
        conn.executemany(INSERT, [
            (ts, env, workload, instance, release, APP, stream, detect(text, stream),
             CONTINUES if continues else 0,
             text if text.isascii() or not _SURROGATE.search(text) else _storable(text))
            for ts, stream, text, continues in job.lines
        ])
        conn.execute(
            "INSERT INTO cursors (container, cursor, updated) VALUES (?, ?, ?) "
            "ON CONFLICT (container) DO UPDATE SET cursor = excluded.cursor, "
            "updated = excluded.updated",
            (job.container, job.cursor, time.time()),
        )

    def _insert_system(self, conn: sqlite3.Connection, job: _SystemLines) -> None:
        rows = []
        for line in job.lines:
            env = self._env(conn, line.env_id)
            workload = self._name(conn, env, WORKLOAD, line.workload, None)
            instance = self._name(conn, env, INSTANCE, line.instance, line.workload)
            release = self._name(conn, env, RELEASE, line.release, None)
            rows.append((line.ts, env, workload, instance, release, SYSTEM, 0, line.severity, 0,
                         _storable(line.message)))
            self._usage[env] = self._usage.get(env, 0) + len(line.message) + ROW_BYTES
        conn.executemany(INSERT, rows)
        for key, value in job.meta.items():
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _env(self, conn: sqlite3.Connection, env_id: str) -> int:
        found = self._env_ids.get(env_id)
        if found is None:
            conn.execute("INSERT OR IGNORE INTO envs (env_id) VALUES (?)", (env_id,))
            row = conn.execute("SELECT id FROM envs WHERE env_id = ?", (env_id,)).fetchone()
            found = int(row[0])
            self._env_ids[env_id] = found
        return found

    def _name(self, conn: sqlite3.Connection, env: int, kind: int, name: str | None,
              workload: str | None) -> int | None:
        if not name:
            return None
        key = (env, kind, name)
        found = self._name_ids.get(key)
        if found is None:
            conn.execute(
                "INSERT OR IGNORE INTO names (env, kind, name, workload) VALUES (?, ?, ?, ?)",
                (env, kind, name, workload),
            )
            found = int(conn.execute(
                "SELECT id FROM names WHERE env = ? AND kind = ? AND name = ?", key
            ).fetchone()[0])
            self._name_ids[key] = found
        return found

    def _retention_step(self, conn: sqlite3.Connection) -> bool:
        if not self.retention.active:
            return False
        try:
            return self.retention.step(conn, time.time_ns())
        except sqlite3.Error as exc:
            log.warning("log retention step failed, will retry: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False

    # --- reading ---------------------------------------------------------------------------------

    def reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def names(self, conn: sqlite3.Connection, ids: set[int]) -> dict[int, str]:
        """Names for interned ids; cached for good, since an id never changes meaning."""
        missing = [i for i in ids if i not in self._names]
        for start in range(0, len(missing), 500):
            part = missing[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, name FROM names WHERE id IN ({marks})"
            for row_id, name in conn.execute(sql, part):
                self._names[row_id] = name
        return self._names

    def cursor_of(self, container: str) -> str | None:
        row = self.reader().execute(
            "SELECT cursor FROM cursors WHERE container = ?", (container,)
        ).fetchone()
        return str(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        row = self.reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def forget_cursors(self, keep: set[str]) -> concurrent.futures.Future[int]:
        """Drop the cursors of containers not in ``keep`` (they are gone for good)."""

        def forget(conn: sqlite3.Connection) -> int:
            known = [r[0] for r in conn.execute("SELECT container FROM cursors")]
            gone = [c for c in known if c not in keep]
            conn.executemany("DELETE FROM cursors WHERE container = ?", [(c,) for c in gone])
            return len(gone)

        return self.call(forget)


def _merge_lost(lost: dict[str, tuple[int, int]], jobs: list[_Job]) -> dict[str, tuple[int, int]]:
    """What was lost before, plus the lines of ``jobs`` (a batch the disk had no room for)."""
    out = dict(lost)
    for job in jobs:
        if isinstance(job, _AppLines):
            items = [(job.origin.env_id, ts) for ts, _s, _t, _c in job.lines]
        elif isinstance(job, _SystemLines):
            items = [(line.env_id, line.ts) for line in job.lines]
        else:
            continue
        for env_id, ts in items:
            n, top = out.get(env_id, (0, 0))
            out[env_id] = (n + 1, max(top, ts))
    return out
