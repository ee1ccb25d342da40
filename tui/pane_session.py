"""An exec session bridged to a terminal pane of the TUI instead of to plat's own terminal.

Same websocket, same start message and same instance rules as ``plat exec``
(``exec_session.connect``/``start``); only the two ends differ: keys come from the pane (any
thread may call ``send``, ``resize`` or ``detach``), output goes to a callback. One thread runs
``pump``: a ``select`` loop over the socket and a wake-up pipe, so a key press reaches the
socket at once and the UI thread never touches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import threading
from collections.abc import Callable
from typing import Any

from platd.spec.errors import PlatError, from_wire
from tui import exec_session
from tui.exec_session import SessionRequest


class PaneSession:
    def __init__(self, request: SessionRequest, rows: int, cols: int,
                 term: str = "xterm-256color") -> None:
        self.request = request
        self.rows, self.cols, self.term = rows, cols, term
        self.started: dict[str, Any] | None = None
        self._ws: exec_session._WebSocket | None = None
        self._lock = threading.Lock()
        self._outbox: list[str | bytes] = []
        self._detached = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def open(self) -> dict[str, Any]:
        """Connect and start the command; raises platd's refusal (``InvalidInput`` with
        ``details.instances`` when several instances could be meant)."""
        ws = exec_session.connect(self.request)
        try:
            self.started = exec_session.start(ws, self.request, self.rows, self.cols, self.term)
        except BaseException:
            ws.close()
            raise
        self._ws = ws
        return self.started

    # --- from any thread ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._queue(bytes((exec_session.STDIN,)) + data)

    def resize(self, rows: int, cols: int) -> None:
        if rows > 0 and cols > 0 and (rows, cols) != (self.rows, self.cols):
            self.rows, self.cols = rows, cols
            self._queue(json.dumps({"type": "resize", "rows": rows, "cols": cols}))

    def detach(self) -> None:
        """Leave the session; platd hangs the remote process up."""
        self._detached = True
        self._wake()

    def _queue(self, message: str | bytes) -> None:
        with self._lock:
            self._outbox.append(message)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- the pump thread --------------------------------------------------------------------

    def pump(self, output: Callable[[bytes], None], notice: Callable[[str], None]) -> int | None:
        """Move data until the command ends (its exit code) or the user detaches (None)."""
        ws = self._ws
        assert ws is not None, "open() first"
        try:
            while True:
                for message in ws.receive():
                    if isinstance(message, bytes):
                        output(message[1:])
                        continue
                    body = exec_session._decode(message)
                    kind = body.get("type")
                    if kind == "exit":
                        code = body.get("code")
                        return code if isinstance(code, int) else None
                    if kind == "notice":
                        notice(str(body.get("message")))
                    elif kind == "error":
                        raise from_wire({"error": body.get("error")}, 0)
                if self._detached:
                    return None
                if ws.closed:
                    raise PlatError("the connection to platd closed before the command ended",
                                    hint="the daemon may have restarted; platd's log says more")
                with self._lock:
                    outbox, self._outbox = self._outbox, []
                for message in outbox:
                    ws.send(message)
                ws.flush()
                sock = ws.sock.fileno()
                readable, _, _ = select.select([sock, self._wake_r], [sock] if ws.unsent else [],
                                               [], 1.0)
                if self._wake_r in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
        finally:
            self.close()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1


__all__ = ["PaneSession", "SessionRequest"]
