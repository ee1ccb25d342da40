"""Wakes long-polling followers when their store commits, and lets them go when platd stops.

Followers (``plat events -f``, ``plat logs -f``, ``plat wait``, the TUI) hold a request open
for up to a minute. On SIGTERM the HTTP server waits for every request in flight before it
exits, so without ``close`` a stop (``systemctl restart platd``) would take as long as the
longest poll; closed, each poll answers at once with what it has and the client reconnects
to the next platd.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol


class Notifying(Protocol):
    # The state store passes what changed (a ChangeSet); the log store passes nothing.
    listeners: list[Callable[..., None]]


class Feed:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._only: tuple[str, ...] = ()
        self.closed = False

    def attach(self, store: Notifying, *, only: tuple[str, ...] = ()) -> None:
        """From the event loop's thread: ``store``'s commits wake followers from now on.

        ``only``: the tables followers read; a commit that says what it changed and touched
        none of them wakes nobody. During a rollout most commits are instance rows, and each
        woke every follower for a read that found nothing new, on the CPU the rollout needs."""
        self._loop = asyncio.get_running_loop()
        self._only = only
        store.listeners.append(self.notify)

    def notify(self, *changes: object) -> None:
        """From any thread (a store commits in worker threads)."""
        touches = getattr(changes[0], "touches", None) if changes else None
        if self._only and touches is not None and not touches(*self._only):
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self._fire)

    def close(self) -> None:
        """From any thread or a signal handler: every wait, now and later, returns at once."""
        self.closed = True
        self.notify()

    def _fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Take before reading: a commit after this moment ends ``wait`` on it at once."""
        return self._event

    async def wait(self, timeout: float, ticket: asyncio.Event | None = None) -> None:
        """Until the next commit (after ``ticket`` was taken, if given), ``timeout`` seconds,
        or ``close``."""
        if self.closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((ticket or self._event).wait(), timeout)
