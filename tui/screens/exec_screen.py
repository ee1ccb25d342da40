"""An interactive exec session full screen: the instance named at the top, the remote TTY below.

The instance is chosen by platd with the rules of ``plat exec``; when several are running, the
same list the CLI prints is shown (``ExecPicker``) and the session is opened again on the chosen
id. The session ends when the remote command exits or on Ctrl-], and the screen closes, leaving
the operator where they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from platd.spec.errors import InvalidInput, PlatError
from tui.widgets.terminal import TerminalPane


@dataclass
class ExecTarget:
    target: str
    workload: str | None = None
    instance: str | None = None
    cmd: list[str] = field(default_factory=list)  # empty: the instance's shell


class ExecScreen(Screen[dict[str, Any]]):
    """Dismissed with ``{"code": N or None, "instance": ID or None, "error": text or None}``."""

    DEFAULT_CSS = """
    ExecScreen { layout: vertical; }
    ExecScreen #exec-banner { height: 1; background: $accent; color: $text; padding: 0 1; }
    ExecScreen #exec-help { height: 1; background: $boost; padding: 0 1; }
    ExecScreen TerminalPane { height: 1fr; }
    """
    BINDINGS = [Binding("ctrl+right_square_bracket", "detach", "Leave session", priority=True)]

    def __init__(self, what: ExecTarget, api: str, token: str | None) -> None:
        super().__init__()
        self.what = what
        self.api = api
        self.token = token
        self.session: Any = None
        self.instance: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"plat: opening an exec session in {self.what.target}…", markup=False,
                     id="exec-banner")
        yield TerminalPane(self._send, self._resized, id="exec-term")
        yield Static("Ctrl-] leaves the session (the remote process is hung up)", markup=False,
                     id="exec-help")

    def on_mount(self) -> None:
        self.query_one(TerminalPane).focus()
        self.call_after_refresh(self.begin, self.what.instance)

    def _send(self, data: bytes) -> None:
        if self.session is not None:
            self.session.send(data)

    def _resized(self, rows: int, cols: int) -> None:
        if self.session is not None:
            self.session.resize(rows, cols)

    @work(thread=True, exclusive=True, group="exec", exit_on_error=False)
    def begin(self, instance: str | None) -> None:
        from tui.exec_session import SessionRequest
        from tui.pane_session import PaneSession

        term = self.query_one(TerminalPane)
        rows, cols = term.size.height or 24, term.size.width or 80
        w = self.what
        request = SessionRequest(api=self.api, token=self.token, target=w.target,
                                 instance=instance, workload=w.workload, cmd=w.cmd, tty=True,
                                 stdin=True)
        session = PaneSession(request, rows, cols)
        try:
            started = session.open()
        except InvalidInput as e:
            session.close()
            candidates = self.app.present(e.details.get("instances"))  # type: ignore[attr-defined]
            if candidates and instance is None:
                self.app.call_from_thread(self._pick, candidates)
            else:
                self.app.call_from_thread(self._end, None, _error_text(e))
            return
        except PlatError as e:
            session.close()
            self.app.call_from_thread(self._end, None, _error_text(e))
            return
        from tui.answers import read
        from tui.render.instances import exec_banner

        present = self.app.present  # type: ignore[attr-defined]
        try:
            self.instance, banner = read("the exec session's start", started, lambda s: (
                str(s["instance"]["id"]), exec_banner(present(s))))
        except PlatError as e:
            session.close()
            self.app.call_from_thread(self._end, None, _error_text(e))
            return
        self.session = session
        self.app.call_from_thread(self.query_one("#exec-banner", Static).update, banner)
        # The pane may have been resized while the session opened.
        session.resize(term.size.height, term.size.width)
        try:
            code = session.pump(term.feed, lambda text: term.feed(
                f"\r\nplat: {text}\r\n".encode()))
        except PlatError as e:
            self.app.call_from_thread(self._end, None, _error_text(e))
            return
        self.app.call_from_thread(self._end, code, None)

    def _pick(self, candidates: list[dict[str, Any]]) -> None:
        from tui.screens.exec_picker import ExecPicker

        def chosen(instance: str | None) -> None:
            if instance is None:
                self._end(None, None)
            else:
                self.query_one(TerminalPane).focus()
                self.begin(instance)

        self.app.push_screen(ExecPicker(candidates, self.what.workload, self.what.target),
                             chosen)

    def _end(self, code: int | None, error: str | None) -> None:
        self.session = None
        if self.is_current or self.app.screen is self:
            self.dismiss({"code": code, "instance": self.instance, "error": error})

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # the session could not go on: say why and leave
            from tui.render.errors import panel_failed

            self._end(None, panel_failed(event.worker.error or RuntimeError()))

    def action_detach(self) -> None:
        if self.session is not None:
            self.session.detach()  # the pump returns None and the screen closes
        else:
            self._end(None, None)

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.detach()


def _error_text(e: PlatError) -> str:
    return "\n".join([e.message, *e.hint])
