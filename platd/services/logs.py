"""``plat logs``: a page of an env's log lines, or a long-polled follow step.

Without ``after`` the answer is the newest lines matching the filter (with ``cursor``, where a
follow starts, and ``before`` to page back); with ``after`` it holds the lines stored after that
cursor, and ``wait`` > 0 holds the request until there are some, the wait is up, the follower
hung up (``gone`` returns) or the daemon stops. The log store and its queries are
``platd.logs``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from platd.auth.tokens import Principal
from platd.logs.service import LogParams, LogService
from platd.services import tenancy
from platd.store.db import Store

MAX_WAIT = 60.0
INLINE_LINES = 1000  # a follow step with at most this many new lines is read on the event loop


async def read_logs(
    logs: LogService, principal: Principal, target: str, params: LogParams, *,
    wait: float = 0.0, gone: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    after = params.after
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)

    def readable() -> tuple[str, str]:
        return readable_env(logs.state, principal, target)

    prepared = await asyncio.to_thread(logs.prepare, params, readable)
    cursor = after
    hung_up: asyncio.Task[None] | None = None
    try:
        while True:
            ticket = logs.feed.ticket()
            result: dict[str, Any]
            if cursor is not None and logs.store.top - cursor <= INLINE_LINES:
                # A few new lines: reading them here is cheaper than a hop to a worker thread,
                # and the hop is what a follower waits for on a busy host.
                result = logs.fetch(prepared, cursor)
            else:
                result = await asyncio.to_thread(logs.fetch, prepared, cursor)
            left = deadline - time.monotonic()
            if (result["lines"] or after is None or left <= 0
                    or (hung_up and hung_up.done()) or logs.feed.closed):
                return result
            cursor = result["cursor"]
            if hung_up is None and gone is not None:
                hung_up = asyncio.ensure_future(gone())
            waiting = asyncio.create_task(logs.feed.wait(left, ticket))
            await asyncio.wait({waiting, *([hung_up] if hung_up else [])},
                               return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
    finally:
        if hung_up is not None:
            hung_up.cancel()


def readable_env(store: Store, principal: Principal, target: str) -> tuple[str, str]:
    """The env's id and path, if the caller may read it (NotFound names what exists)."""
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return ref.env.id, ref.path
