"""``plat events`` and ``plat wait``: an env's events as a page, or followed by long-polling.

A follower passes the cursor (``after``) of the last event it saw and may wait: the request is
held until an event after the cursor exists, the wait is up, or the daemon stops (its feed
closes), so a reconnecting follower misses nothing and sees nothing twice. Events are recorded
by whoever acts, through ``platd.store.eventlog``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from platd.auth.tokens import Principal
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.services.releases_read import find_release, release_status
from platd.spec.errors import InvalidInput
from platd.store import eventlog

MAX_WAIT = 60.0  # seconds one request may be held
MAX_LIMIT = 5000


def list_events(
    ctx: ServiceContext, principal: Principal, target: str, *, after: int | None,
    release_id: str | None, since: float | None, limit: int,
) -> dict[str, Any]:
    """The newest ``limit`` events (``after`` None), or those after the cursor ``after``.

    Filtered by release, the page also says where that release stands, read in the same
    transaction as its events: a follower that sees the rollout end has the verdict without
    asking again (a whole request, about a tenth of a one-instance deploy)."""
    release: dict[str, Any] | None = None
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        if release_id:
            found = find_release(session, ref, release_id)
            release_id = found.id
            release = {"id": found.id, "version": f"v{found.seq}",
                       "status": release_status(session, found, ref.env)["status"]}
        if after is None:
            rows = eventlog.last_events(session, ref.env.id, release_id=release_id, since=since,
                                        limit=limit)
        else:
            rows = eventlog.query(session, ref.env.id, after=after, release_id=release_id,
                                  since=since, limit=limit)
        cursor = rows[-1].seq if rows else (after or eventlog.top_seq(session))
        page: dict[str, Any] = {
            "target": ref.path, "events": [eventlog.to_dict(e) for e in rows], "cursor": cursor}
        if release is not None:
            page["release"] = release
        return page


async def follow_events(
    ctx: ServiceContext, principal: Principal, target: str, *, after: int | None = None,
    release_id: str | None = None, since: float | None = None, limit: int = 200,
    wait: float = 0.0,
) -> dict[str, Any]:
    """Events after the cursor ``after``; with ``wait`` > 0, held until there are some (at
    most ``MAX_WAIT`` seconds, and never past the daemon's stop)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}",
            hint=f"pass --limit N with N from 1 to {MAX_LIMIT}",
        )
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    while True:
        # Taken before the read: a commit between the read and the wait ends the wait at once
        # (without it, such an event waited for the next commit, up to the whole long poll).
        ticket = ctx.feed.ticket()
        result = await asyncio.to_thread(
            list_events, ctx, principal, target, after=after, release_id=release_id,
            since=since, limit=limit,
        )
        left = deadline - time.monotonic()
        if result["events"] or after is None or left <= 0 or ctx.feed.closed:
            return result
        await ctx.feed.wait(left, ticket)
