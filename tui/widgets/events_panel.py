"""The Events panel: the env's events, live, newest at the bottom, optionally for one release."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, RichLog
from textual.worker import get_current_worker

from platd.spec.errors import PlatError
from tui.answers import read
from tui.widgets.failures import SaysWorkerFailures

POLL_WAIT = 10.0
HISTORY = 200


class EventsPanel(SaysWorkerFailures, Vertical):
    DEFAULT_CSS = """
    EventsPanel { height: 1fr; }
    EventsPanel Input { margin: 0; }
    EventsPanel RichLog { height: 1fr; }
    """

    target: reactive[str | None] = reactive(None)
    release: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter by release (v3, id) — Enter to apply, empty for all",
                    id="release-filter", compact=True)
        yield RichLog(id="event-log", wrap=False, highlight=False, markup=True, max_lines=5000)

    def watch_target(self, target: str | None) -> None:
        if target:
            self.follow(target, self.release)

    @on(Input.Submitted, "#release-filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        self.set_release(event.value)

    def set_release(self, release: str) -> None:
        """Show only the events of ``release`` (``v3``, an id; empty: all)."""
        self.release = release.strip()
        self.query_one("#release-filter", Input).value = self.release
        if self.target:
            self.follow(self.target, self.release)

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def follow(self, target: str, release: str) -> None:
        from tui.follow import Cancelled, Reconnect, follow
        from tui.render.connection import RESUME_EVENTS, pane_connection_back, pane_trouble

        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        self.app.call_from_thread(self.query_one(RichLog).clear)
        path = clients.get().env_path(target, "/events")

        def fetch(after: int | None) -> tuple[list[tuple[str, str]], int]:
            query: dict[str, Any] = {"release": release or None}
            if after is None:
                query["limit"] = HISTORY
            else:
                query.update(after=after, wait=POLL_WAIT)
            page = clients.call("GET", path, query=query, timeout=POLL_WAIT + 10)
            return read(f"GET {path}", page, _events_view)

        # A daemon restart, a dropped connection, an answer it cannot read: say so, then go on
        # from the cursor.
        reconnect = Reconnect(
            retry=(PlatError,), cancel=clients.cancel_for(worker),
            on_lost=lambda e: self._from_worker(self.write_note, pane_trouble(e)),
            on_back=lambda: self._from_worker(self.write_note,
                                              pane_connection_back(RESUME_EVENTS)))
        try:
            for lines, _cursor in follow(fetch, None, reconnect, lambda page: page[1]):
                if worker.is_cancelled:
                    return
                self._from_worker(self.write_lines, lines)
        except Cancelled:
            return

    def _from_worker(self, callback: Any, *args: Any) -> None:
        if not self.app.clients.closed:  # type: ignore[attr-defined]
            self.app.call_from_thread(callback, *args)

    def write_lines(self, lines: list[tuple[str, str]]) -> None:
        if not self.query(RichLog):
            return
        log = self.query_one(RichLog)
        for style, line in lines:
            log.write(f"[{style}]{_escape(line)}[/]" if style else _escape(line))

    def write_note(self, text: str) -> None:
        if self.query(RichLog):
            self.query_one(RichLog).write(f"[yellow]{_escape(text)}[/]")


def _events_view(page: dict[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """A page of events as (style, line) pairs, and the next cursor."""
    from tui.render.events import event_line

    lines = []
    for e in page["events"]:
        style = "red" if e["outcome"] == "failed" else ("green" if e["outcome"] == "ok" else "")
        lines += [(style, line) for line in event_line(e).split("\n")]
    return lines, int(page["cursor"])


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
