"""Root tasks under one supervisor: a daemon that lost a vital loop stops instead of limping on.

Each long-lived loop of a daemon (the HTTP server, the reconciler, the ingress controller, the
log service, later gossip) is a named ``RootTask``. ``Supervisor.run`` starts them all and waits;
when one ends while nothing asked it to (it raised, or returned), that is logged critically and
every other task is stopped, last started first, so the process can exit non-zero and its service
manager restart it: a daemon that accepts deploys but never acts on them is worse than one that
is down. ``stop`` ends the run the same orderly way. A task with a ``stop`` callable is asked to
finish on its own (the HTTP server answers the requests in flight); the others are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("platd")

GRACE = 30.0  # seconds a task asked to stop may take before it is cancelled


@dataclass(frozen=True)
class RootTask:
    name: str  # in words: "reconciler", "HTTP server"
    run: Callable[[], Coroutine[Any, Any, None]]
    stop: Callable[[], None] | None = None  # asks ``run`` to return; without it: cancel
    vital: bool = True  # its end stops the daemon


class Supervisor:
    def __init__(self, tasks: Sequence[RootTask], *,
                 on_shutdown: Callable[[], None] | None = None, grace: float = GRACE) -> None:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"root task names repeat: {names}")
        self.tasks = tuple(tasks)
        self._on_shutdown = on_shutdown
        self._grace = grace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._wake: asyncio.Event | None = None
        self.ended: str | None = None  # the vital task whose end stopped the run

    def stop(self) -> None:
        """Ask the run to end (from any thread, or a signal handler on the loop)."""
        self._stop_requested = True
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wake.set)

    async def run(self) -> str | None:
        """Run every task until ``stop`` or until a vital one ends; stop the others. Returns
        the name of the vital task that ended (None when the run was asked to stop)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stop_requested:
            self._wake.set()
        started: list[tuple[RootTask, asyncio.Task[None]]] = [
            (spec, asyncio.create_task(spec.run(), name=spec.name)) for spec in self.tasks
        ]
        woken = asyncio.create_task(self._wake.wait(), name="supervisor-stop")
        pending: set[asyncio.Future[Any]] = {task for _spec, task in started} | {woken}
        by_task: dict[asyncio.Future[Any], RootTask] = {task: spec for spec, task in started}
        try:
            while self.ended is None and not woken.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    spec = by_task.get(task)
                    if spec is None:
                        continue
                    why = _why(task)
                    if spec.vital:
                        log.critical("the %s stopped (%s); shutting platd down", spec.name, why)
                        self.ended = spec.name
                        break
                    log.warning("the %s stopped (%s)", spec.name, why)
        finally:
            woken.cancel()
            await self._shutdown(started)
        return self.ended

    async def _shutdown(self, started: list[tuple[RootTask, asyncio.Task[None]]]) -> None:
        if self._on_shutdown is not None:
            self._on_shutdown()
        for spec, task in reversed(started):
            if task.done():
                continue
            if spec.stop is not None:
                spec.stop()
                await asyncio.wait({task}, timeout=self._grace)
            task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
            error = results[0]
            if isinstance(error, Exception):
                log.warning("the %s failed while stopping: %r", spec.name, error)


def _why(task: asyncio.Future[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return repr(error) if error is not None else "it returned"
