"""What the daemon keeps in memory about who is signing in and who holds an open session.

``Access`` holds the device flow's pending logins, the browser sessions of the sign-in pages,
the failure limiter for wrong codes and passwords, and every open exec session with the token
it was opened with. When a commit touches tokens, users, memberships or orgs (here or merged
from a peer), each open session's token is checked again, off the writer's thread, and a
session whose caller lost the right to it is ended at once: revoking a token, removing a
member or lowering their role closes their exec sessions within the same second. Browser
sessions of a user whose membership or tokens changed are ended too, and with them their web
console sessions and the commands running there (``on_user_ended``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import col, select

from platd.auth.device import DeviceFlow
from platd.auth.ratelimit import FailureLimiter
from platd.auth.websessions import WebSessions
from platd.services import exec as exec_service
from platd.services.context import ServiceContext
from platd.spec.errors import PlatError
from platd.store.changes import ChangeSet
from platd.store.models import Token

log = logging.getLogger("platd.access")
WATCHED = ("tokens", "users", "memberships", "orgs")


@dataclass(eq=False)  # kept in a set, by identity
class LiveSession:
    """An open exec session: ``ended`` is set (with ``reason``) when its caller loses access."""

    bearer: str | None
    target: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()


class Access:
    def __init__(self, svc: ServiceContext, *, device_ttl: float = 600.0,
                 device_interval: float = 5.0) -> None:
        self.svc = svc
        self.device = DeviceFlow(ttl=device_ttl, interval=device_interval)
        self.web = WebSessions()
        self.failures = FailureLimiter()
        self._live: set[LiveSession] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = False
        # Called with a user's id when their browser sessions are ended (the web console
        # ends that user's console sessions, and the commands running in them).
        self.on_user_ended: list[Callable[[str], None]] = []
        svc.store.listeners.append(self._on_commit)

    # --- exec sessions --------------------------------------------------------------------

    def bind(self) -> None:
        """Called from handlers: commits are handed to the loop that serves them."""
        self._loop = asyncio.get_running_loop()

    def open(self, bearer: str | None, target: str, expires_at: float | None) -> LiveSession:
        self.bind()
        assert self._loop is not None
        live = LiveSession(bearer, target)
        self._live.add(live)
        if expires_at is not None:
            delay = max(0.0, expires_at - self.svc.clock.time())
            self._loop.call_later(delay, live.end, "the token expired")
        return live

    def close(self, live: LiveSession) -> None:
        self._live.discard(live)

    # --- reacting to commits ----------------------------------------------------------------

    def _on_commit(self, changes: ChangeSet) -> None:
        # Called on the writer's thread: hand over to the event loop, once per burst.
        loop = self._loop
        if loop is None or not changes.touches(*WATCHED) or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._schedule, changes)

    def _schedule(self, changes: ChangeSet) -> None:
        self._end_web_sessions(changes)
        if self._pending or not self._live:
            return
        self._pending = True
        asyncio.get_running_loop().create_task(self._recheck(), name="access-recheck")

    async def _recheck(self) -> None:
        self._pending = False
        for live in list(self._live):
            try:
                await asyncio.to_thread(exec_service.authorize, self.svc, live.bearer,
                                        live.target)
            except PlatError as e:
                live.end(e.message)
            except Exception:  # a failed check must not keep a session open
                log.exception("re-checking an exec session failed; ending it")
                live.end("its access could not be checked")

    def _end_web_sessions(self, changes: ChangeSet) -> None:
        users = set(changes.tables.get("users", ()))
        users |= {mid.split(":", 1)[0] for mid in changes.tables.get("memberships", ())}
        token_ids = changes.tables.get("tokens", frozenset())
        if token_ids:
            with self.svc.store.read() as session:
                rows = session.exec(select(Token).where(col(Token.id).in_(token_ids))).all()
                users |= {t.user_id for t in rows if t.user_id and t.deleted}
        for uid in users & self.web.users():
            self.web.end_user(uid)
            for hook in self.on_user_ended:
                hook(uid)
