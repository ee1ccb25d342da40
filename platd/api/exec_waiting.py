"""Exec sessions whose process starts before their websocket: ``POST .../exec/sessions``.

Before it can open the exec websocket, ``plat exec`` must import a websocket library: more than
half of the CPU it spends before a command runs (~25 ms on a 2-core machine). Asked over plain
HTTP first, platd starts the process at once and the client imports the library while the
command already runs; its websocket then attaches to the session (``GET .../exec?session=ID``)
and gets the output that waited in the engine's stream, from the first byte, then the exit code,
as in any session (docs/exec.md, "Protocol").

A waiting session is a capability, so it is narrow: a random id, good once, only for the token
that opened it, in the env it was opened in, and for ``ATTACH_WITHIN`` seconds; the caller's role
is checked again when it attaches. One nobody attaches to is hung up as a session whose client
left (stdin closed, SIGHUP, then SIGKILL) and its closing event says so; a client that gives up
before attaching hangs it up at once (``DELETE``). At most ``MAX_WAITING`` wait on a host, and
``MAX_PER_TOKEN`` for one token, so one caller cannot take the room of others; beyond that, and
for an instance on another host of the cluster (reached by relaying the websocket), platd starts
nothing and answers ``{"session": null}``: the client sends the start message on its websocket,
as sessions always could.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

from platd.auth.tokens import Principal
from platd.runtime.base import ExecSession
from platd.services import exec as exec_service
from platd.services.context import ServiceContext
from platd.spec.errors import NotFound

log = logging.getLogger("platd.exec")

ATTACH_WITHIN = 10.0  # seconds a started process waits for its websocket
MAX_WAITING = 32
MAX_PER_TOKEN = 4


@dataclass
class Waiting:
    """A started process and what its session needs once a websocket attaches."""

    principal: Principal
    where: exec_service.ExecTarget
    cmd: list[str]
    tty: bool
    stdin: bool
    process: ExecSession
    opened: asyncio.Task[float]  # the opening audit event, written meanwhile
    prestarted: bool = False  # started by POST .../exec/sessions, before its websocket
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    async def end(self, svc: ServiceContext, *, exit_code: int | None, ended_by: str | None,
                  ) -> None:
        """Hang the process up if it still runs, and write the session's closing event."""
        await self.process.close()
        started = await self.opened
        await asyncio.to_thread(
            exec_service.record_close, svc, self.principal, self.where, self.cmd,
            started=started, exit_code=exit_code, ended_by=ended_by,
        )


class WaitingSessions:
    """The sessions opened over HTTP that no websocket has attached to yet."""

    def __init__(self, svc: ServiceContext, *, attach_within: float = ATTACH_WITHIN,
                 limit: int = MAX_WAITING, per_token: int = MAX_PER_TOKEN) -> None:
        self.svc = svc
        self.attach_within = attach_within
        self.limit = limit
        self.per_token = per_token
        self._waiting: dict[str, Waiting] = {}
        # Room taken by sessions being started (counted before their first await, so that
        # concurrent requests cannot all pass the check) and by those waiting, per token.
        self._held: dict[str, int] = {}
        self._hanging_up: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._waiting)

    def reserve(self, token_id: str) -> bool:
        """Room for one more session of ``token_id``, taken now; False when there is none
        (the session is then started on its websocket). ``add`` keeps it, ``unreserve``
        gives it back."""
        if sum(self._held.values()) >= self.limit or self._held.get(token_id, 0) >= self.per_token:
            return False
        self._held[token_id] = self._held.get(token_id, 0) + 1
        return True

    def unreserve(self, token_id: str) -> None:
        left = self._held.get(token_id, 0) - 1
        if left > 0:
            self._held[token_id] = left
        else:
            self._held.pop(token_id, None)

    def add(self, waiting: Waiting) -> str:
        """Keep a started session (its room was reserved) until a websocket claims it."""
        session_id = secrets.token_urlsafe(24)
        waiting.timer = asyncio.get_running_loop().call_later(
            self.attach_within, self._expire, session_id)
        self._waiting[session_id] = waiting
        return session_id

    def claim(self, session_id: str, principal: Principal, target: str) -> Waiting:
        """The session, taken out: it is attached once, by the token that opened it, in the
        env it was opened in. The caller owns it from then on (``attend`` or ``hang_up``)."""
        waiting = self._waiting.get(session_id)
        if (waiting is None or waiting.principal.token_id != principal.token_id
                or waiting.where.target != target):
            # The same words whether the id is unknown, expired or another token's.
            raise NotFound(
                "no exec session waits under that id: a session is attached once, by the "
                f"token that opened it, within {self.attach_within:g}s of its start",
                hint=["its command may have run meanwhile: plat events shows the sessions",
                      "run plat exec again"],
            )
        del self._waiting[session_id]
        if waiting.timer is not None:
            waiting.timer.cancel()
        self.unreserve(waiting.principal.token_id)
        return waiting

    def hang_up(self, waiting: Waiting, reason: str) -> None:
        """End a session that will not be attached (claimed, then refused or abandoned)."""
        task = asyncio.create_task(self._hang_up(waiting, reason), name="exec-hang-up")
        self._hanging_up.add(task)
        task.add_done_callback(self._hanging_up.discard)

    def _expire(self, session_id: str) -> None:
        waiting = self._waiting.pop(session_id, None)
        if waiting is None:
            return
        self.unreserve(waiting.principal.token_id)
        self.hang_up(waiting, f"no client attached within {self.attach_within:g}s")

    async def _hang_up(self, waiting: Waiting, reason: str) -> None:
        try:
            await waiting.end(self.svc, exit_code=None, ended_by=reason)
        except Exception:  # logged: a timer callback has nobody else to tell
            log.exception("hanging up an exec session nobody attached to failed")
