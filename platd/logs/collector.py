"""Collection: one follower per container, from the runtime into the log store.

The reconciler hands every list of containers it observes to ``observe``; any plat container
without a follower gets one, whatever its state, so the output of a container that crashed while
platd was down is still read. A follower resumes from the cursor stored with the container's last
committed lines (``LogStore`` writes both in one transaction), which is what makes a restart of
platd lose and repeat nothing.

Before the executor removes a container it calls ``drain``: the follower reads to the end of what
the stopped container wrote, those lines are committed, and only then does the container go.
That is how the last lines of a replaced or removed instance are kept.

A follower that fails (the engine restarted, say) is started again by a later ``observe`` after
``RETRY_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from platd.logs.store import LogStore, Origin
from platd.runtime.base import ObservedContainer, Runtime, RuntimeError_

__all__ = ["Collector"]

log = logging.getLogger("platd.logs")

RETRY_AFTER = 2.0
DRAIN_TIMEOUT = 15.0
FORGET_EVERY = 60.0


@dataclass
class _Follower:
    container: ObservedContainer
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Collector:
    def __init__(self, runtime: Runtime, store: LogStore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.store = store
        self.clock = clock
        self._followers: dict[str, _Follower] = {}
        self._cursors: dict[str, str] = {}  # newest cursor handed to the store, per container
        self._retry_at: dict[str, float] = {}
        self._drained: set[str] = set()  # about to be removed: never followed again
        self._next_forget = clock() + FORGET_EVERY
        self._closed = False

    @property
    def following(self) -> set[str]:
        return set(self._followers)

    def observe(self, observed: list[ObservedContainer]) -> None:
        """Start a follower for every container that has none (called once per pass)."""
        if self._closed:
            return
        now = self.clock()
        for c in observed:
            cid = c.container_id
            if cid in self._followers or cid in self._drained or not c.instance_id:
                continue
            if self._retry_at.get(cid, 0.0) > now:
                continue
            self._start(c)
        if now >= self._next_forget:
            self._next_forget = now + FORGET_EVERY
            alive = {c.container_id for c in observed} | set(self._followers)
            self.store.forget_cursors(alive)
            self._drained &= alive
            for cid in list(self._cursors):
                if cid not in alive:
                    del self._cursors[cid]

    def _start(self, c: ObservedContainer, stop: bool = False) -> _Follower:
        follower = _Follower(c)
        if stop:
            follower.stop.set()
        self._followers[c.container_id] = follower
        follower.task = asyncio.create_task(
            self._follow(follower), name=f"logs-{c.container_id[:12]}"
        )
        return follower

    async def _follow(self, follower: _Follower) -> None:
        c = follower.container
        cid = c.container_id
        origin = Origin(c.env_id, c.workload, c.instance_id, c.release_id)
        try:
            cursor = self._cursors.get(cid)
            if cursor is None:
                cursor = await asyncio.to_thread(self.store.cursor_of, cid)
            async for batch in self.runtime.follow_logs(cid, cursor, follower.stop):
                if batch.lines:
                    self.store.submit_app(origin, cid, batch.lines, batch.cursor)
                self._cursors[cid] = batch.cursor
                await self.store.room()
        except RuntimeError_ as exc:
            log.warning("stopped following the output of instance %s: %s; will retry",
                        c.instance_id, exc)
            self._retry_at[cid] = self.clock() + RETRY_AFTER
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following the output of instance %s failed; will retry", c.instance_id)
            self._retry_at[cid] = self.clock() + RETRY_AFTER
        finally:
            if self._followers.get(cid) is follower:
                del self._followers[cid]

    async def drain(self, container_id: str) -> None:
        """Read everything the (stopped) container wrote and commit it; never raises."""
        try:
            self._drained.add(container_id)
            follower = self._followers.get(container_id)
            if follower is None:
                observed = await self.runtime.inspect(container_id)
                if observed is None or not observed.instance_id:
                    return
                follower = self._start(observed, stop=True)
            follower.stop.set()
            if follower.task is not None:
                await asyncio.wait_for(asyncio.shield(follower.task), DRAIN_TIMEOUT)
            await self.store.flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not read the last output of container %s: %s",
                        container_id[:12], exc)

    async def close(self) -> None:
        """Stop every follower (what they handed over stays queued for the store)."""
        self._closed = True
        tasks = [f.task for f in self._followers.values() if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
