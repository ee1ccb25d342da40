"""``GET /v1/envs/{org}/{project}/{app}/{env}/logs``: history pages and long-polled follow.

Without ``after`` the answer is the newest ``limit`` lines matching the filter, oldest first,
with ``cursor`` (where a follow starts: nothing before it is missed, nothing in the page is
repeated) and, when older lines exist, ``before`` (pass it back to get the page before). With
``after`` the answer holds the lines stored after that cursor, in order; ``wait`` > 0 holds the
request open until there are some or the time is up, like ``/events``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Request, Router, get

from platd.api.context import DaemonContext
from platd.api.deps import target
from platd.auth.tokens import Principal
from platd.logs import LogParams
from platd.spec.errors import PlatError

MAX_WAIT = 60.0
INLINE_LINES = 1000  # a follow step with at most this many new lines is read on the event loop


@get("/logs")
async def read_logs(
    ctx: DaemonContext, principal: Principal, request: Request[Any, Any, Any], org: str,
    project: str, app: str, env: str,
    workload: str | None = None, instance: str | None = None, source: str = "all",
    severity: str | None = None, since: str | None = None, until: str | None = None,
    limit: int = 100, after: int | None = None, before: str | None = None, wait: float = 0.0,
) -> dict[str, Any]:
    """App and system log lines of the env; filters narrow, ``after``/``wait`` follow."""
    service = ctx.logs
    if service is None:
        raise PlatError("this daemon runs without a log store")
    path = target(org, project, app, env)
    params = LogParams(workload=workload, instance=instance, source=source, severity=severity,
                       since=since, until=until, limit=limit, after=after, before=before)
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    prepared = await asyncio.to_thread(service.prepare, principal, path, params)
    cursor = after
    gone: asyncio.Task[None] | None = None
    try:
        while True:
            ticket = service.feed.ticket()
            result: dict[str, Any]
            if cursor is not None and service.store.top - cursor <= INLINE_LINES:
                # A few new lines: reading them here is cheaper than a hop to a worker thread,
                # and the hop is what a follower waits for on a busy host.
                result = service.fetch(prepared, cursor)
            else:
                result = await asyncio.to_thread(service.fetch, prepared, cursor)
            left = deadline - time.monotonic()
            if (result["lines"] or after is None or left <= 0 or (gone and gone.done())
                    or service.feed.closed):
                return result
            cursor = result["cursor"]
            if gone is None:
                gone = asyncio.create_task(_disconnected(request))
            waiting = asyncio.create_task(service.feed.wait(left, ticket))
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
    finally:
        if gone is not None:
            gone.cancel()


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    """Return when the client hangs up, so a follower that went away (Ctrl-C) does not hold
    its long poll, and with it a daemon shutdown, until the wait runs out."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


router = Router(path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
                route_handlers=[read_logs])
