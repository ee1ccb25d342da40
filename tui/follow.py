"""Following a stream read by cursor (events, log lines): one loop for every front end.

platd serves its streams as long polls: ``GET .../events?after=CURSOR&wait=SECONDS`` answers as
soon as something newer than CURSOR exists (or the wait ends) with the rows and the next
cursor. Asking again with the same cursor after a lost connection loses nothing and repeats
nothing, so following is: ask, hand the page over, move the cursor; and when platd cannot be
reached, wait a growing pause and ask again with the same cursor, up to a bound, unless the
front end cancels. ``plat logs -f``, ``plat events -f``, the rollout follow of ``deploy``,
``rollback`` and ``wait``, and the TUI's Events and Logs panels all follow with this module;
they differ only in what they do with a page and in how they say that the connection was lost
and is back (callbacks, with words from ``tui.render``).

Standard library and ``platd.spec`` only: every follow command imports it at start, and TUI
workers run it in threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from platd.spec.errors import DaemonUnreachable, PlatError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeVar

    T = TypeVar("T")
else:
    Protocol = object  # at run time a plain base class: the protocol is the type checker's
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0


class Cancel(Protocol):
    """How a front end stops a follow from another thread; ``threading.Event`` is one."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds; True (at once) when cancelled."""


class Cancelled(Exception):
    """The front end cancelled the follow (a closed panel, a stopped console block)."""


class NeverCancelled:
    """A follow nobody cancels from another thread (the CLI stops on Ctrl-C)."""

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        time.sleep(timeout or 0.0)
        return False


class Reconnect:
    """Calls that ride out a lost connection to platd.

    A call failing with one of ``retry`` (by default ``DaemonUnreachable``) is made again after
    a pause that doubles from ``BACKOFF_FIRST`` to ``BACKOFF_MAX``. ``on_lost(error)`` is told
    once when the connection is lost, ``on_back()`` once when an answer comes again.

    - ``patience``: seconds of failures after which it gives up (None: never), raising
      ``give_up(last_error, patience)``;
    - ``until``: a ``clock()`` deadline that ends the retries early: the last error is then
      raised as it came, and the caller, which owns the deadline, says what it means;
    - ``cancel``: checked before each call and during each pause; raises ``Cancelled``. An error
      raised after the front end cancelled (it aborts the request in flight) is ``Cancelled``
      too, never a lost connection.
    """

    def __init__(
        self, *, patience: float | None = None, until: float | None = None,
        retry: tuple[type[PlatError], ...] = (DaemonUnreachable,),
        on_lost: Callable[[PlatError], None] | None = None,
        on_back: Callable[[], None] | None = None,
        give_up: Callable[[PlatError, float], PlatError] | None = None,
        cancel: Cancel | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.patience = patience
        self.until = until
        self.retry = retry
        self.on_lost = on_lost
        self.on_back = on_back
        self.give_up = give_up
        self.cancel: Cancel = cancel if cancel is not None else NeverCancelled()
        self.clock = clock

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        backoff = BACKOFF_FIRST
        lost_at: float | None = None
        while True:
            if self.cancel.is_set():
                raise Cancelled
            try:
                result = fn(*args, **kwargs)
            except self.retry as exc:
                if self.cancel.is_set():
                    raise Cancelled from None
                now = self.clock()
                if self.until is not None and now >= self.until:
                    raise
                if lost_at is None:
                    lost_at = now
                    if self.on_lost is not None:
                        self.on_lost(exc)
                stop = self.until
                if self.patience is not None:
                    give_up_at = lost_at + self.patience
                    if now >= give_up_at:
                        if self.give_up is None:
                            raise
                        raise self.give_up(exc, self.patience) from None
                    stop = give_up_at if stop is None else min(stop, give_up_at)
                pause = backoff if stop is None else max(0.0, min(backoff, stop - now))
                if self.cancel.wait(pause):
                    raise Cancelled from None
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if lost_at is not None and self.on_back is not None:
                self.on_back()
            return result


def follow(fetch: Callable[[Any], T], cursor: Any, reconnect: Reconnect,
           next_cursor: Callable[[T], Any] | None = None) -> Iterator[T]:
    """Pages of a stream from ``cursor`` on, for as long as the caller iterates.

    ``fetch(cursor)`` long-polls one page (``cursor`` None: the first page, history); the next
    cursor is ``next_cursor(page)``, by default ``page["cursor"]``. A lost connection is ridden
    out by ``reconnect`` with the same cursor, so no page is skipped or repeated.
    """
    take = next_cursor if next_cursor is not None else _cursor_of
    while True:
        page = reconnect(fetch, cursor)
        yield page
        cursor = take(page)


def _cursor_of(page: Any) -> Any:
    return page["cursor"]
