"""Riding out a lost daemon connection while following: `logs -f`, `events -f`, `deploy`,
`rollback` and `wait` share it.

Each follow long-polls with a cursor (``after=``), so asking again with the same cursor once
platd answers again loses nothing and repeats nothing. While platd cannot be reached, the call
is retried with a growing pause; one note goes to stderr when the connection is lost and one when
it is back, so stdout keeps only what the command prints. After ``PLAT_RECONNECT_TIMEOUT``
seconds (default 60) without an answer it gives up with ``DaemonUnreachable`` (exit 10).

Standard library only: every follow command imports this at start.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from platd.spec.errors import DaemonUnreachable

T = TypeVar("T")

RECONNECT_FOR = 60.0  # seconds without an answer before a follow gives up
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0


def reconnect_for() -> float:
    """How long a follow keeps trying to reconnect: ``PLAT_RECONNECT_TIMEOUT`` or 60 s.

    A value that is not a number of seconds above 0 is ignored with a note, not refused: by the
    time a follow starts, ``plat deploy`` has already created its release."""
    raw = os.environ.get("PLAT_RECONNECT_TIMEOUT")
    if not raw:
        return RECONNECT_FOR
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if 0 < value < float("inf"):
        return value
    print(f"plat: ignoring PLAT_RECONNECT_TIMEOUT={raw!r}: not a number of seconds above 0; "
          f"reconnecting for up to {RECONNECT_FOR:g}s", file=sys.stderr, flush=True)
    return RECONNECT_FOR


class Reconnecting:
    """Calls that ride out a lost connection to platd.

    ``resume`` completes "reconnected; going on from ...". ``until`` (a ``time.monotonic()``
    deadline) ends the retries early: then the last ``DaemonUnreachable`` is raised as it came,
    and the caller, which owns the deadline, says what it means. ``hint`` lines are added to the
    error raised on giving up (how to pick up again).
    """

    def __init__(self, resume: str, *, until: float | None = None,
                 hint: list[str] | None = None) -> None:
        self.resume = resume
        self.until = until
        self.hint = hint or []
        self.patience = reconnect_for()

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        backoff = BACKOFF_FIRST
        lost_at: float | None = None
        while True:
            try:
                result = fn(*args, **kwargs)
            except DaemonUnreachable as exc:
                now = time.monotonic()
                if self.until is not None and now >= self.until:
                    raise
                if lost_at is None:
                    lost_at = now
                    print(f"plat: {exc.message}; reconnecting (Ctrl-C to stop)",
                          file=sys.stderr, flush=True)
                give_up = lost_at + self.patience
                if now >= give_up:
                    raise DaemonUnreachable(
                        f"{exc.message}; gave up after {self.patience:g}s of trying to reconnect",
                        hint=[*self.hint, *exc.hint,
                              "to wait longer next time, set PLAT_RECONNECT_TIMEOUT (seconds)"],
                    ) from None
                stop = give_up if self.until is None else min(give_up, self.until)
                time.sleep(max(0.0, min(backoff, stop - now)))
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if lost_at is not None:
                print(f"plat: reconnected; going on from {self.resume}", file=sys.stderr,
                      flush=True)
            return result
