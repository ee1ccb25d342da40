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

POLL_WAIT = 10.0
HISTORY = 200


class EventsPanel(Vertical):
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

    @work(thread=True, exclusive=True, group="events")
    def follow(self, target: str, release: str) -> None:
        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        self.app.call_from_thread(self.query_one(RichLog).clear)
        path = clients.get().env_path(target, "/events")
        after: int | None = None
        delay = 0.5
        while not worker.is_cancelled and not clients.closed:
            try:
                query: dict[str, Any] = {"release": release or None}
                if after is None:
                    query["limit"] = HISTORY
                else:
                    query.update(after=after, wait=POLL_WAIT)
                page = clients.call("GET", path, query=query, timeout=POLL_WAIT + 10)
                if not worker.is_cancelled:
                    self.app.call_from_thread(self.write_events, page["events"])
                after, delay = page["cursor"], 0.5
            except PlatError as e:
                if clients.closed:
                    return
                # A daemon restart or a dropped connection: say so, then resume from the cursor.
                self.app.call_from_thread(self.write_note, f"{e.message} — retrying")
                clients.sleep(delay)
                delay = min(delay * 2, 5.0)

    def write_events(self, events: list[dict[str, Any]]) -> None:
        from tui.render import event_line

        log = self.query_one(RichLog)
        for e in events:
            style = "red" if e["outcome"] == "failed" else ("green" if e["outcome"] == "ok" else "")
            for line in event_line(e).split("\n"):
                log.write(f"[{style}]{_escape(line)}[/]" if style else _escape(line))

    def write_note(self, text: str) -> None:
        self.query_one(RichLog).write(f"[yellow]{_escape(text)}[/]")


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
