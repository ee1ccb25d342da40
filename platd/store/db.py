"""The state database: one SQLite file per host, one writer, many readers.

Writes go through ``Store.write()``: a single connection behind a lock, each transaction opened
with ``BEGIN IMMEDIATE`` so it takes the write lock up front instead of failing half-way with
SQLITE_BUSY. Reads use a separate pool of connections and, with WAL, never wait for the writer.
Another process can still hold the database's lock (``platd token reset``, a backup, the sqlite3
shell): SQLite waits ``BUSY_TIMEOUT`` for it, and a lock held longer than that becomes a
``StoreBusy`` (HTTP 503, exit 9, "try again") rather than an unexpected error.
The reconciler (async) reaches both through ``asyncio.to_thread``. Replicated rows are stamped
by the store as they are written, and listeners learn what each commit changed
(``platd.store.changes``); rows from peers merge through ``apply_remote``
(``platd.store.replication``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from platd.spec.errors import StorageFull, StoreBusy
from platd.spec.hlc import HybridLogicalClock
from platd.spec.limits import disk_full
from platd.store import replication
from platd.store.changes import ChangeRecorder, ChangeSet, replicated_tables
from platd.store.replication import WireRow

MIGRATIONS_PACKAGE = "platd.store.migrations"
log = logging.getLogger("platd.store")

# How long a statement waits for a lock another process holds before it gives up: long enough
# that a loaded machine (a checkpoint or another process's write stretched by a busy CPU or
# disk) makes a request slow rather than failed. Within this process writers queue on
# ``Store._write_lock`` and never meet SQLITE_BUSY.
BUSY_TIMEOUT = 30.0


def _on_connect(busy_timeout: float) -> Callable[[sqlite3.Connection, Any], None]:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from pysqlite so the "begin" hook below decides how to begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # First: the journal_mode pragma itself may have to wait for a lock.
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def _engine(path: Path, *, writer: bool, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        poolclass=StaticPool if writer else None,
    )
    event.listen(engine, "connect", _on_connect(busy_timeout))
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    return engine


def migration_scripts() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration shipped with the package, in order."""
    scripts = []
    for item in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = item.name
        if name.endswith(".sql") and name[:4].isdigit():
            scripts.append((int(name[:4]), name, item.read_text()))
    return sorted(scripts)


def migrate(path: Path) -> int:
    """Bring the database at ``path`` to the newest schema; returns the resulting version.

    Each migration is applied once, by number, and recorded in ``schema_migrations``: branches
    that add 0002 and 0003 independently merge in either order, and a database that got 0003
    first still gets 0002 later. ``PRAGMA user_version`` keeps the highest number applied.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(number INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        applied = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
        scripts = migration_scripts()
        if not applied and current:
            # A database from before this table: everything up to its version was applied.
            applied = {number for number, _name, _sql in scripts if number <= current}
            conn.executemany("INSERT INTO schema_migrations VALUES (?, ?)",
                             [(n, name) for n, name, _sql in scripts if n in applied])
        for number, name, sql in scripts:
            if number in applied:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";\n"):
                    if statement.strip() and not _only_comments(statement):
                        conn.execute(statement)
                current = max(current, number)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, name))
                conn.execute(f"PRAGMA user_version = {current}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(current)
    finally:
        conn.close()


SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED = 13, 10, 5, 6


def _disk_full(exc: BaseException, data: Path) -> bool:
    """Whether ``exc`` (or what caused it) is SQLite or the OS saying the disk is full.

    SQLite reports most of it as SQLITE_FULL; growing the WAL index on a full tmpfs comes back
    as an I/O error, which counts when the disk has (almost) nothing free.
    """
    seen: BaseException | None = exc
    for _depth in range(16):  # a chain of causes is short; never walk a cycle forever
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, StorageFull):
            return False  # already translated, by an inner transaction
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", 0) & 0xFF
            if code == SQLITE_FULL or "database or disk is full" in str(seen):
                return True
            if code == SQLITE_IOERR:
                try:
                    st = os.statvfs(data)
                    return st.f_bavail * st.f_frsize < 1024 * 1024
                except OSError:
                    return False
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def _busy(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is SQLite giving up on a lock after its busy
    timeout: SQLITE_BUSY or SQLITE_LOCKED, with any extended code."""
    seen: BaseException | None = exc
    for _depth in range(16):
        if seen is None:
            break
        if isinstance(seen, sqlite3.OperationalError):
            code = getattr(seen, "sqlite_errorcode", 0) & 0xFF
            text = str(seen)
            if code in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in text \
                    or "database table is locked" in text:
                return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


Listener = Callable[[ChangeSet], None]


class Store:
    """Handles to one host's state database plus the clock that stamps its writes."""

    def __init__(self, path: Path, host_id: str, clock: HybridLogicalClock | None = None, *,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.host_id = host_id
        self.clock = clock or HybridLogicalClock()
        self.busy_timeout = busy_timeout
        self._writer = _engine(path, writer=True, busy_timeout=busy_timeout)
        self._reader = _engine(path, writer=False, busy_timeout=busy_timeout)
        self._write_lock = threading.Lock()
        # Called after every commit that changed something (from the writing thread) with what
        # it changed: wakes followers and the reconciler, and tells peers.
        self.listeners: list[Listener] = []
        # Called when a write finds the disk full (the daemon's DiskWatch gives its ballast
        # back, so that the retry and the writes that free space have room).
        self.on_full: Callable[[], None] | None = None
        # Called before each write transaction (the DiskWatch's cached look, at most once a
        # second: it gives the ballast back before a write can fail for want of space).
        self.before_write: Callable[[], object] | None = None
        # Per origin, the newest stamp held here, kept as commits and merges land: replication
        # asks on every hint and every page it pulls, and the full answer scans every table.
        self._marks: dict[str, int] | None = None
        self._marks_lock = threading.Lock()
        self._seed_clock()

    def _seed_clock(self) -> None:
        # A restarted host must never stamp below what it wrote before the restart: every
        # table with an hlc column counts, found from the models rather than listed by hand.
        with self.read() as session:
            top = 0
            for table in replicated_tables():
                row = session.connection().exec_driver_sql(f"SELECT MAX(hlc) FROM {table}")
                top = max(top, row.scalar() or 0)
        self.clock.observe(top)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction; commits on success, rolls back on any exception.

        Replicated rows written in it are stamped ``(hlc, origin)`` as they flush.
        """
        with self._transaction(ChangeRecorder(self.clock, self.host_id)) as session:
            yield session

    @contextmanager
    def _transaction(self, recorder: ChangeRecorder) -> Iterator[Session]:
        if self.before_write is not None:
            # A look at the disk that fails must not stop the write.
            with contextlib.suppress(OSError):
                self.before_write()
        with self._write_lock, Session(self._writer, expire_on_commit=False) as session:
            event.listen(session, "before_flush", recorder.before_flush)
            try:
                yield session
                session.commit()
            except BaseException as e:
                session.rollback()
                if _disk_full(e, self.path.parent):
                    if self.on_full is not None:
                        self.on_full()
                    raise self._full_error() from None
                if _busy(e):
                    raise self._busy_error(e) from None
                raise
        changes = recorder.change_set()
        if changes.hlc and not recorder.remote:
            self._raise_marks({self.host_id: changes.hlc})
        # Only a commit that changed something wakes followers and the reconciler: a pass that
        # finds nothing to write must not trigger the next pass, or an idle daemon spins.
        if changes or recorder.local_writes:
            for listener in list(self.listeners):
                # The commit landed: a listener that fails must neither turn it into an error
                # for the writer (a request answered 500 for a change that was made) nor keep
                # the listeners after it from hearing of it.
                try:
                    listener(changes)
                except Exception:
                    log.exception("a commit listener failed (%r); the commit stands", listener)

    def apply_remote(
        self, rows: Iterable[WireRow], through: Mapping[str, int] | None = None
    ) -> ChangeSet:
        """Merge rows a peer sent: the larger ``(hlc, origin)`` wins, stamps are kept as they
        came, and the clock moves past them. Idempotent and order-independent. ``through``
        (origin -> stamp) marks a ``rows_since`` answer as complete up to that stamp."""
        rows = list(rows)
        recorder = ChangeRecorder(self.clock, self.host_id, remote=True)
        with self._transaction(recorder) as session:
            top = replication.merge(session, rows, through)
            if top:
                # Before the write lock goes: a local write after this merge stamps past it.
                self.clock.observe(top)
        # Rows that lost the merge count too: they are superseded here, so not needed again.
        marks = dict(through or {})
        for item in rows:
            row = item.get("row") or {}
            if isinstance(row.get("origin"), str) and isinstance(row.get("hlc"), int):
                marks[row["origin"]] = max(marks.get(row["origin"], 0), row["hlc"])
        self._raise_marks(marks)
        return recorder.change_set()

    def rows_since(self, origin: str, hlc: int, limit: int = 1000) -> list[WireRow]:
        """Rows written by ``origin`` after stamp ``hlc``, oldest first (what a peer lacks)."""
        with self.read() as session:
            return replication.rows_since(session, origin, hlc, limit)

    def high_water(self, *, fresh: bool = False) -> dict[str, int]:
        """Per origin, the newest stamp held here. Kept up to date by this store's own
        commits and merges; ``fresh`` reads it again from every table (anti-entropy does, now
        and then, in case another process wrote to the database)."""
        with self._marks_lock:
            if self._marks is not None and not fresh:
                return dict(self._marks)
        # Under the write lock: no commit lands between the read and the cache taking it.
        with self._write_lock, self.read() as session:
            marks = replication.high_water(session)
            with self._marks_lock:
                self._marks = marks
                return dict(marks)

    def _raise_marks(self, stamps: Mapping[str, int]) -> None:
        with self._marks_lock:
            if self._marks is None:
                return  # read in full on the first ask
            for origin, stamp in stamps.items():
                if stamp > self._marks.get(origin, 0):
                    self._marks[origin] = stamp

    def digest(self) -> str:
        """A hash of the replicated state: equal on two hosts that hold the same rows."""
        with self.read() as session:
            return replication.digest(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self._reader) as session:
            try:
                yield session
            except Exception as e:
                if _disk_full(e, self.path.parent):
                    raise self._full_error() from None
                if _busy(e):
                    raise self._busy_error(e) from None
                raise

    def _busy_error(self, exc: BaseException) -> StoreBusy:
        log.warning("the state database at %s stayed locked for %.0f s: %s", self.path,
                    self.busy_timeout, exc)
        return StoreBusy(
            f"the state database stayed locked for {self.busy_timeout:.0f} s (another process "
            "holds its lock, or the machine is overloaded): nothing was changed",
            hint=["try again in a moment",
                  f"if it persists: is another program using {self.path}? "
                  f"(fuser {self.path})"],
        )

    def _full_error(self) -> StorageFull:
        try:
            st = os.statvfs(self.path.parent)
            free = st.f_bavail * st.f_frsize
        except OSError:
            free = 0
        return disk_full(str(self.path.parent), free)

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()
