"""An exec session bridged to a terminal pane of the TUI instead of to plat's own terminal.

Same websocket, same start message and same instance rules as ``plat exec``
(``exec_session.connect``/``start``); only the two ends differ: keys come from the pane (any
thread may call ``send``, ``resize`` or ``detach``; they queue and return at once, so the UI
thread never waits on the socket), output goes to a callback from the one thread that runs
``pump``.
"""

from __future__ import annotations

import json
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
        self._wire: exec_session.Wire | None = None
        self._detached = False

    def open(self) -> dict[str, Any]:
        """Connect and start the command; raises platd's refusal (``InvalidInput`` with
        ``details.instances`` when several instances could be meant)."""
        ws = exec_session.connect(self.request)
        try:
            self.started = exec_session.start(ws, self.request, self.rows, self.cols, self.term)
        except BaseException:
            ws.close()
            raise
        self._wire = exec_session.Wire(ws)
        return self.started

    # --- from any thread ------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self._wire is not None:
            self._wire.send(bytes((exec_session.STDIN,)) + data)

    def resize(self, rows: int, cols: int) -> None:
        if rows > 0 and cols > 0 and (rows, cols) != (self.rows, self.cols):
            self.rows, self.cols = rows, cols
            if self._wire is not None:
                self._wire.send(json.dumps({"type": "resize", "rows": rows, "cols": cols}))

    def detach(self) -> None:
        """Leave the session; platd hangs the remote process up."""
        self._detached = True
        wire = self._wire
        if wire is not None:
            wire.close(wait=0)  # the pump sees the connection end and returns

    # --- the pump thread --------------------------------------------------------------------

    def pump(self, output: Callable[[bytes], None], notice: Callable[[str], None]) -> int | None:
        """Move data until the command ends (its exit code) or the user detaches (None)."""
        wire = self._wire
        assert wire is not None, "open() first"
        try:
            while (message := wire.receive()) is not None:
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
            raise PlatError("the connection to platd closed before the command ended",
                            hint="the daemon may have restarted; platd's log says more")
        finally:
            self.close()

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None


__all__ = ["PaneSession", "SessionRequest"]
