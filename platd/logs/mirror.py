"""System lines: the platform's own records about an env, in the same stream as app output.

Everything platd does to an env is already recorded in the event log (pulls, starts, health
changes, crashes and OOM kills, rollouts, recoveries), so system lines are mirrored from it
rather than written twice at every call site: a task follows new event ``seq`` numbers after each
commit to the state database and writes one line per event. The event cursor is stored with the
lines in one transaction, so after a restart mirroring goes on from exactly where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from platd.logs.severity import ERROR, INFO, WARN
from platd.logs.store import LogStore, SystemLine
from platd.store.changes import ChangeSet
from platd.store.db import Store

__all__ = ["EventMirror", "system_line"]

log = logging.getLogger("platd.logs")

CURSOR_KEY = "events_seq"
BATCH = 1000
IDLE_CHECK = 5.0


def system_line(event: dict[str, Any]) -> SystemLine:
    """The line for one event row (``seq, at, env_id, release_id, workload, instance_id, step,
    outcome, category, message``)."""
    step = str(event["step"])
    outcome = str(event["outcome"])
    message = str(event["message"])
    if step == "crash" or (outcome == "failed" and step != "health"):
        level = ERROR
    elif outcome == "failed":
        level = WARN
    else:
        level = INFO
    if not message.lower().startswith(step.lower()):
        message = f"{step}: {message}"
    return SystemLine(
        ts=int(float(event["at"]) * 1_000_000_000), env_id=str(event["env_id"]),
        workload=event["workload"] or None, instance=event["instance_id"] or None,
        release=event["release_id"] or None, severity=level, message=message,
    )


class EventMirror:
    def __init__(self, state: Store, logs: LogStore) -> None:
        self.state = state
        self.logs = logs

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def poke(changes: ChangeSet) -> None:
            if changes.touches("events") and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between
                    loop.call_soon_threadsafe(wake.set)

        self.state.listeners.append(poke)
        try:
            cursor = int(await asyncio.to_thread(self.logs.meta, CURSOR_KEY) or 0)
            while True:
                wake.clear()
                rows = await asyncio.to_thread(self._read, cursor)
                if rows:
                    cursor = int(rows[-1]["seq"])
                    self.logs.submit_system([system_line(r) for r in rows],
                                            {CURSOR_KEY: str(cursor)})
                    if len(rows) == BATCH:
                        continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), IDLE_CHECK)
        finally:
            self.state.listeners.remove(poke)

    def _read(self, after: int) -> list[dict[str, Any]]:
        with self.state.read() as session:
            result = session.connection().exec_driver_sql(
                "SELECT seq, at, env_id, release_id, workload, instance_id, step, outcome, "
                "category, message FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, BATCH),
            )
            return [dict(row._mapping) for row in result]
