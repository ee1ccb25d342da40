"""The web console's exec sessions, served in-process by the exec route's own code.

A console command's ``exec`` used to open a second websocket, through the loopback, to
``/v1/envs/.../exec`` (as ``plat exec`` does), and every key and every piece of output crossed
that socket and two more threads each way. Here the session runs on platd's event loop with
``platd.api.exec.serve``, the code the exec route runs: the same check of the person's token
(``tokens.principal_for``, the console's token of theirs), the same instance rules and role
(``exec_service.resolve``), the same audit events, the same end of the session when the person
loses access. Only the client's end differs (``ConsoleBridge``): keys from the page's websocket
go straight to the process, its output straight to the page.

An instance on another host of a cluster is reached as before, through the exec websocket
(which relays it): ``run`` answers ``ELSEWHERE`` before anything started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from platd.api.access import Access
from platd.api.exec import MAX_SIZE, Bridge, Start, serve
from platd.console.run import ELSEWHERE
from platd.runtime.base import ExecSession
from platd.services import exec as exec_service
from platd.services import tokens
from platd.spec.errors import PlatError, from_wire
from tui.exec_session import SessionRequest

TERM = "xterm-256color"  # what the page's terminal (ghostty-web) is


class Elsewhere(Exception):
    """The instance runs on another host of the cluster: open the exec websocket instead."""


class ConsoleBridge(Bridge):
    """The page's end of one exec session. ``send``, ``resize`` and ``detach`` are what the
    console's websocket calls (the same three a ``tui.pane_session.PaneSession`` has), from
    the event loop or any thread; ``started``, ``output(channel, data)`` and ``notice`` are
    called on the loop as the session goes."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 started: Callable[[ConsoleBridge, dict[str, Any]], None],
                 output: Callable[[int, bytes], None], notice: Callable[[str], None]) -> None:
        self._loop = loop
        self._started, self._output_to, self._notice = started, output, notice
        self._keys: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.error: PlatError | None = None
        self.exited = False
        self.code: int | None = None

    # --- the page's side ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._put(("stdin", data))

    def resize(self, rows: int, cols: int) -> None:
        if 0 < rows <= MAX_SIZE and 0 < cols <= MAX_SIZE:
            self._put(("resize", (rows, cols)))

    def detach(self) -> None:
        """Leave the session; ``serve`` hangs the remote process up."""
        self._put(("leave", None))

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._keys.put_nowait(item)  # the page's websocket: no hand-off at all
        else:
            self._loop.call_soon_threadsafe(self._keys.put_nowait, item)

    # --- the session's side (serve) -------------------------------------------------------

    async def send_json(self, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind == "started":
            self._started(self, body)
        elif kind == "notice":
            self._notice(str(body.get("message")))
        elif kind == "error":
            self.error = from_wire({"error": body.get("error")}, 0)
        elif kind == "exit":
            code = body.get("code")
            self.exited, self.code = True, code if isinstance(code, int) else None

    async def send_bytes(self, data: bytes) -> None:
        self._output_to(data[0], data[1:])

    async def close(self) -> None:
        return None

    async def _input(self, process: ExecSession) -> None:
        while True:
            kind, value = await self._keys.get()
            if kind == "stdin":
                await process.write(value)
            elif kind == "resize":
                await process.resize(*value)
            else:
                return  # left: serve ends the session as for a client that disconnected


async def run(access: Access, relaying: bool, request: SessionRequest, size: tuple[int, int],
              started: Callable[[ConsoleBridge, dict[str, Any]], None],
              output: Callable[[int, bytes], None], notice: Callable[[str], None]) -> int | None:
    """Run ``request`` as the person whose token it carries; the command's exit code, None
    when the page left the session (Ctrl-]). Refusals are raised as the exec route sends
    them; ``ELSEWHERE`` when the instance is on another host (nothing started)."""
    bridge = ConsoleBridge(asyncio.get_running_loop(), started, output, notice)
    try:
        return await _serve(access, relaying, request, size, bridge)
    except Elsewhere:
        return ELSEWHERE


async def _serve(access: Access, relaying: bool, request: SessionRequest,
                 size: tuple[int, int], bridge: ConsoleBridge) -> int | None:
    rows, cols = size
    svc = access.svc
    principal = await asyncio.to_thread(tokens.principal_for, svc, request.token)
    start = Start(type="start", instance=request.instance, workload=request.workload,
                  cmd=list(request.cmd), tty=request.tty, stdin=request.stdin, rows=rows,
                  cols=cols, term=TERM)
    exec_service.check_request(start.cmd, start.rows, start.cols)
    where = await asyncio.to_thread(exec_service.resolve, svc, principal, request.target,
                                    start.instance, start.workload, relay=relaying)
    if where.host_id != svc.host.id:
        raise Elsewhere(where.host_id)
    await serve(bridge, svc, access, principal, where, start, request.token)
    if bridge.error is not None:
        raise bridge.error
    if not bridge.exited:
        return None  # the page left (or the console session ended): platd hung it up
    return bridge.code
