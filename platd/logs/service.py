"""The log service of one daemon: store, collector, event mirror, and the reads the API serves.

``LogService.open`` builds the parts; ``run`` is the long-lived task (the mirror), run as a
root task by the daemon's supervisor, and shuts the rest down cleanly when cancelled;
``prepare`` checks one ``GET .../logs`` request and resolves its filter (names to interned ids,
times to nanoseconds), ``fetch`` returns a history page or a follow step. Who may read which env
is decided by the caller (``platd.services.logs``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platd.feed import Feed
from platd.logs import query
from platd.logs.collector import Collector
from platd.logs.mirror import EventMirror
from platd.logs.retention import Retention
from platd.logs.severity import LEVELS, level_name, parse_level
from platd.logs.store import APP, CONTINUES, INSTANCE, SYSTEM, WORKLOAD, LogStore
from platd.runtime.base import Runtime
from platd.spec.errors import InvalidInput, NotFound
from platd.spec.timeparse import parse_time
from platd.store.db import Store
from platd.store.models import Env, Release
from platd.store.queries import manifest_of

__all__ = ["MAX_LIMIT", "LogParams", "LogService"]

log = logging.getLogger("platd.logs")

MAX_LIMIT = 10_000
SOURCES = {"app": APP, "system": SYSTEM, "all": None}
STREAMS = {1: "stdout", 2: "stderr"}
LISTED = 20  # names shown in a "no such workload/instance" error


@dataclass(frozen=True)
class LogParams:
    """A request's filter as the API received it (text, not yet checked)."""

    workload: str | None = None
    instance: str | None = None
    source: str = "all"
    severity: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = 100
    after: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A checked request: the env it may read and its filter, times already in nanoseconds."""

    env_id: str
    env_path: str
    workload: str | None
    instance: str | None
    source: int | None
    min_severity: int | None
    since: int | None
    until: int | None
    limit: int
    before: tuple[int, int] | None


class LogService:
    def __init__(self, store: LogStore, state: Store, runtime: Runtime) -> None:
        self.store = store
        self.state = state
        self.collector = Collector(runtime, store)
        self.mirror = EventMirror(state, store)
        self.feed = Feed()  # commits of new lines

    @classmethod
    def open(cls, path: Path, state: Store, runtime: Runtime, *,
             max_age: str | float | int, max_bytes: str | int,
             max_env_bytes: int = 0) -> LogService:
        """The host budget is held to a tenth of the data dir's filesystem (retention.py)."""
        st = os.statvfs(path.parent)
        retention = Retention.from_settings(max_age, max_bytes, max_env_bytes,
                                            disk_bytes=st.f_blocks * st.f_frsize)
        return cls(LogStore(path, retention), state, runtime)

    async def run(self) -> None:
        """Mirror events into system lines until cancelled; then stop followers and commit."""
        self.feed.attach(self.store)
        try:
            await self.mirror.run()
        finally:
            await self.collector.close()
            await asyncio.to_thread(self.store.close)

    # --- reading -------------------------------------------------------------------------------

    def prepare(self, p: LogParams, env: Callable[[], tuple[str, str]]) -> Prepared:
        """Check the request once; a long poll then only ``fetch``es. ``env`` answers which env
        (id, path) the caller may read, or refuses; it is asked once the filter is valid."""
        if not 1 <= p.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}",
                               hint="page further back with the before cursor of the last page")
        now = time.time()
        since = _moment(p.since, now, "since")
        until = _moment(p.until, now, "until")
        if since is not None and until is not None and since >= until:
            raise InvalidInput("the --since time is not before the --until time",
                               hint="since is where the lines start, until where they stop")
        if p.source not in SOURCES:
            raise InvalidInput(f"unknown source {p.source!r}", hint="use app, system or all")
        min_severity = None
        if p.severity:
            min_severity = parse_level(p.severity)
            if min_severity is None:
                raise InvalidInput(f"unknown severity {p.severity!r}",
                                   hint=f"use one of {', '.join(LEVELS)} (and those above it)")
        before = _before(p.before)
        env_id, env_path = env()
        return Prepared(
            env_id=env_id, env_path=env_path, workload=p.workload, instance=p.instance,
            source=SOURCES[p.source], min_severity=min_severity,
            since=int(since * 1e9) if since is not None else None,
            until=int(until * 1e9) if until is not None else None,
            limit=p.limit, before=before,
        )

    def fetch(self, r: Prepared, after: int | None) -> dict[str, Any]:
        """The page or follow step for a prepared request (reads only the log store)."""
        env_id, env_path = r.env_id, r.env_path
        conn = self.store.reader()
        conn.execute("BEGIN")
        try:
            env = _env_key(conn, env_id)
            workload = self._resolve(conn, env, env_id, env_path, WORKLOAD, r.workload)
            instance = self._resolve(conn, env, env_id, env_path, INSTANCE, r.instance)
            f = query.Filter(
                env=env if env is not None else -1, workload=workload, instance=instance,
                source=r.source, min_severity=r.min_severity, since=r.since, until=r.until,
            )
            more = False
            if after is None:
                cursor = query.top_seq(conn)
                if env is not None:
                    rows, more = query.history(conn, f, r.limit, r.before)
                else:
                    rows = []
            else:
                rows, cursor = query.follow(conn, f, after, r.limit)
            names = self.store.names(conn, {i for r in rows for i in r[2:5] if i is not None})
            dropped = _dropped(conn, env, r) if after is None and not more else None
        finally:
            conn.execute("COMMIT")
        lines = [_line(r, names) for r in rows]
        older = f"{rows[0][1]}:{rows[0][0]}" if (more and rows) else None
        answer = {"target": env_path, "lines": lines, "cursor": cursor, "more": more,
                  "before": older}
        if dropped:
            answer["dropped"] = dropped
        return answer

    def _resolve(self, conn: Any, env: int | None, env_id: str, env_path: str, kind: int,
                 name: str | None) -> int | None:
        """The interned id for a workload or instance name (an instance may be a unique prefix);
        -1 when the state knows it but it has no lines yet; NotFound naming what exists."""
        if name is None:
            return None
        known: dict[str, int] = {}
        if env is not None:
            known = {n: i for i, n in conn.execute(
                "SELECT id, name FROM names WHERE env = ? AND kind = ?", (env, kind))}
        if name in known:
            return known[name]
        in_state = self._state_names(env_id, kind)
        if name in in_state:
            return -1
        what = "workload" if kind == WORKLOAD else "instance"
        if kind == INSTANCE:
            matches = sorted({n for n in (*known, *in_state) if n.startswith(name)})
            if len(matches) == 1:
                return known.get(matches[0], -1)
            if len(matches) > 1:
                raise InvalidInput(
                    f"instance {name!r} is ambiguous in {env_path}: it starts "
                    f"{', '.join(matches[:LISTED])}", hint="give more of the instance id")
        existing = sorted(set(known) | in_state)
        shown = ", ".join(existing[:LISTED]) or "none"
        if len(existing) > LISTED:
            shown += f" and {len(existing) - LISTED} more"
        raise NotFound(
            f"no {what} {name!r} in {env_path} ({what}s with logs or running there: {shown})",
            hint=f"see them with: plat status --target {env_path}",
            details={"kind": what, "name": name, "existing": existing},
        )

    def _state_names(self, env_id: str, kind: int) -> set[str]:
        """Workloads or instances the state knows for the env (they may have no lines yet)."""
        with self.state.read() as session:
            conn = session.connection()
            rows = conn.exec_driver_sql(
                "SELECT id, workload FROM instances WHERE env_id = ? AND deleted = 0 "
                "AND state != 'pending'", (env_id,)).all()
            if kind == INSTANCE:
                return {str(r[0]) for r in rows}
            names = {str(r[1]) for r in rows}
            env = session.get(Env, env_id)
            if env is not None and env.current_release_id:
                release = session.get(Release, env.current_release_id)
                if release is not None:
                    names |= set(manifest_of(release).workloads)
            return names


def _dropped(conn: Any, env: int | None, r: Prepared) -> dict[str, Any] | None:
    """On the oldest page of a history: how many older lines of the env were dropped for the
    log budget (or a full disk), when the page's time range reaches back to them."""
    if env is None:
        return None
    row = conn.execute("SELECT dropped, dropped_through FROM env_usage WHERE env = ?",
                       (env,)).fetchone()
    if not row or not row[0] or (r.since is not None and r.since > row[1]):
        return None
    return {"lines": int(row[0]), "through": int(row[1]) / 1e9}


def _env_key(conn: Any, env_id: str) -> int | None:
    row = conn.execute("SELECT id FROM envs WHERE env_id = ?", (env_id,)).fetchone()
    return int(row[0]) if row else None


def _moment(text: str | None, now: float, what: str) -> float | None:
    """Unix seconds from a number, a duration ago ("10m") or a timestamp."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_time(text, now)
    except InvalidInput as exc:
        raise InvalidInput(f"--{what}: {exc.message}", hint=exc.hint) from None


def _before(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    ts, _, seq = token.partition(":")
    if not (ts.isdigit() and seq.isdigit()):
        raise InvalidInput(f"cannot read the before cursor {token!r}",
                           hint="pass the before value of a previous page as it was")
    return int(ts), int(seq)


def _line(r: query.Row, names: dict[int, str]) -> dict[str, Any]:
    seq, ts, workload, instance, release, source, stream, level, flags, message = r
    return {
        "seq": seq, "at": ts / 1e9, "ts_ns": ts,
        "source": "system" if source == SYSTEM else "app",
        "workload": names.get(workload) if workload is not None else None,
        "instance": names.get(instance) if instance is not None else None,
        "release": names.get(release) if release is not None else None,
        "stream": STREAMS.get(stream), "severity": level_name(level),
        "message": message, "partial": bool(flags & CONTINUES),
    }
