"""The Logs panel: the env's log lines, live, with the filters, words and resume rules of
``plat logs --follow``.

A thread worker long-polls ``GET .../logs`` from a cursor, exactly as the CLI does, and hands
whole pages to the UI: one call per page, so a stream of thousands of lines a second costs a
few screen updates, not one per line. The pane is a ``Log`` widget (plain strings, rendered
only when visible) capped at ``MAX_LINES``. Filters are typed as the CLI's flags and parsed by
the CLI's own parser, so ``-w web -s warn`` means the same in both places.
"""

from __future__ import annotations

import re
import shlex
from collections import deque
from typing import Any, NamedTuple

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, Log, Static
from textual.worker import get_current_worker

from platd.spec.errors import InvalidInput, PlatError
from tui.answers import read
from tui.widgets.failures import SaysWorkerFailures

HISTORY = 500  # lines shown when the pane opens or the filter changes
OLDER_PAGE = 1000  # lines fetched by one press of "older"
FOLLOW_PAGE = 2000
FOLLOW_WAIT = 20.0
MAX_LINES = 20_000  # kept in the pane; older ones leave it (plat logs --since reads them)
MAX_PAUSED = 50_000  # lines held while paused; beyond, the oldest held are dropped (and said)
SEVERITY_STYLE = {"error": "bold red", "fatal": "bold white on red", "warn": "yellow",
                  "debug": "dim"}
# TIME SOURCE WORKLOAD/INSTANCE LEVEL: the level is the fourth field of tui.render.logs.log_line.
_LEVEL = re.compile(r"^\S+ +\S+ +\S+ +(\S+)")


class LogHighlighter(Highlighter):
    """Colours the level field and marks every match of the search text."""

    def __init__(self) -> None:
        self.search = ""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        m = _LEVEL.match(plain)
        if m and (style := SEVERITY_STYLE.get(m.group(1))):
            text.stylize(style, m.start(1), m.end(1))
        if self.search:
            needle, hay = self.search.lower(), plain.lower()
            at = hay.find(needle)
            while at >= 0:
                text.stylize("black on yellow", at, at + len(needle))
                at = hay.find(needle, at + len(needle))


def parse_filters(text: str) -> dict[str, Any]:
    """The query of ``plat logs FLAGS`` for the flags typed in the filter box."""
    import argparse

    from tui.cli.commands import logs as logs_command

    parser = argparse.ArgumentParser(prog="plat logs", add_help=False, exit_on_error=False)
    sub = parser.add_subparsers()
    logs_command.register(sub, argparse.ArgumentParser(add_help=False))
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise InvalidInput(f"cannot read the filter: {e}") from None
    try:
        args, extra = parser.parse_known_args(["logs", *words])
    except (argparse.ArgumentError, SystemExit) as e:
        raise InvalidInput(f"cannot read the filter: {e}",
                           hint="use plat logs flags: -w WORKLOAD -i INSTANCE -s LEVEL "
                           "--source app|system|all --since 10m") from None
    if extra:
        raise InvalidInput(f"unknown filter words: {' '.join(extra)}",
                           hint="use plat logs flags: -w WORKLOAD -i INSTANCE -s LEVEL "
                           "--source app|system|all --since 10m")
    if args.follow or args.until:
        raise InvalidInput("the pane always follows: drop --follow and --until",
                           hint="plat logs --until T reads a closed time range")
    query: dict[str, Any] = logs_command._filters(args)
    return query


class LogsPanel(SaysWorkerFailures, Vertical):
    DEFAULT_CSS = """
    LogsPanel { height: 1fr; }
    LogsPanel Input { margin: 0 0 0 0; }
    LogsPanel #logs-search { display: none; }
    LogsPanel #logs-search.shown { display: block; }
    LogsPanel #logs-note { height: 1; padding: 0 1; background: $boost; }
    LogsPanel Log { height: 1fr; }
    """
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(-1)", "Prev match", show=False),
        Binding("N", "next_match(1)", "Next match", show=False),
        Binding("o", "older", "Older"),
        Binding("f", "edit_filter", "Filter"),
        Binding("G", "bottom", "Newest", show=False),
    ]

    target: reactive[str | None] = reactive(None)
    paused: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self.query_params: dict[str, Any] = {"source": "all"}
        self.filter_text = ""
        self.held: deque[str] = deque(maxlen=MAX_PAUSED)
        self.dropped = 0
        self.before: str | None = None  # where older history continues, None: nothing older
        self.received = 0  # lines handed to the pane since the filter was set (for the bench)
        self.connection = ""
        self._highlighter = LogHighlighter()
        self._match = -1

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter (f) as plat logs: -w web -i 4kq2 -s warn --source app "
                    "--since 10m", id="logs-filter", compact=True)
        yield Input(placeholder="search text (Enter; n/N jump, Esc closes)", id="logs-search",
                    compact=True)
        yield Static("", id="logs-note")
        log = Log(id="logs", max_lines=MAX_LINES, highlight=True)
        log.highlighter = self._highlighter
        yield log

    def watch_target(self, target: str | None) -> None:
        if target:
            self.restart()

    def restart(self) -> None:
        log = self.query_one(Log)
        log.clear()
        self.held.clear()
        self.dropped = 0
        self.received = 0
        self.before = None
        if self.target:
            self.follow(self.target, dict(self.query_params))

    # --- the stream ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def follow(self, target: str, query: dict[str, Any]) -> None:
        from tui.follow import Cancelled, Reconnect, follow
        from tui.render.connection import RESUME_LINES, pane_connection_back, pane_trouble
        from tui.render.logs import follow_host_changes

        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/logs")

        def fetch(cursor: int | str | None) -> LogsPage:
            if cursor is None:
                page = clients.call("GET", path, query={**query, "limit": HISTORY})
            else:
                # On a cluster the cursor is one per host (``cursors``): every host's lines.
                at = {"cursors": cursor} if isinstance(cursor, str) else {"after": cursor}
                page = clients.call("GET", path, query={
                    **query, **at, "wait": FOLLOW_WAIT, "limit": FOLLOW_PAGE,
                }, timeout=FOLLOW_WAIT + 15)
            return read(f"GET {path}", page, _logs_view)

        reconnect = Reconnect(
            retry=(PlatError,), cancel=clients.cancel_for(worker),
            on_lost=lambda e: self._from_worker(self._say_connection, pane_trouble(e)),
            on_back=lambda: self._from_worker(self._say_connection,
                                              pane_connection_back(RESUME_LINES)))
        first = True
        down: set[str] = set()
        try:
            for page in follow(fetch, None, reconnect, lambda page: page.cursor):
                if worker.is_cancelled:
                    return
                if first:
                    self._from_worker(self._set_before, page.before)
                    first = False
                notes = follow_host_changes({"unreachable": page.unreachable}, down)
                if notes:
                    self._from_worker(self._say_connection, notes[-1])
                if page.lines:
                    # Waits for the UI to take the page: a fast stream slows this loop, not
                    # the UI.
                    self._from_worker(self.add_lines, page.lines)
        except Cancelled:
            return

    def _from_worker(self, callback: Any, *args: Any) -> None:
        if not self.app.clients.closed:  # type: ignore[attr-defined]
            self.app.call_from_thread(callback, *args)

    def _alive(self) -> bool:
        """False once the app is closing and the pane's parts are gone (a page may still
        arrive from the worker then)."""
        return bool(self.query(Log)) and bool(self.query("#logs-note"))

    def _set_before(self, before: str | None) -> None:
        self.before = before
        if self._alive():
            self._show_note()

    def _say_connection(self, text: str) -> None:
        self.connection = text
        if self._alive():
            self._show_note()

    def add_lines(self, text: list[str]) -> None:
        """Show rendered log lines (``tui.render.logs.log_line``), or hold them while paused."""
        if not self._alive():
            return
        self.received += len(text)
        if self.paused:
            overflow = len(self.held) + len(text) - MAX_PAUSED
            if overflow > 0:
                self.dropped += overflow
            self.held.extend(text)
            self._show_note()
            return
        self.query_one(Log).write_lines(text)

    # --- what the keys do ---------------------------------------------------------------------

    def watch_paused(self, paused: bool) -> None:
        if not paused and self.held:
            log = self.query_one(Log)
            log.write_lines(list(self.held))
            self.held.clear()
        self._show_note()

    def _show_note(self) -> None:
        parts = []
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.paused:
            held = f"{len(self.held):,} new line(s) held"
            if self.dropped:
                held += f", {self.dropped:,} dropped"
            parts.append(f"PAUSED ({held}) — p resumes")
        if self.before:
            parts.append("o: older lines")
        if self.connection:
            parts.append(self.connection)
        self.query_one("#logs-note", Static).update(Text("  ·  ".join(parts) or "following"))

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def action_bottom(self) -> None:
        self.query_one(Log).scroll_end(animate=False)

    def action_edit_filter(self) -> None:
        self.query_one("#logs-filter", Input).focus()

    @on(Input.Submitted, "#logs-filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        try:
            query = parse_filters(event.value)
        except PlatError as e:
            hint = f" — {e.hint[0]}" if e.hint else ""
            self.app.notify(f"{e.message}{hint}", severity="error", timeout=8)
            return
        self.set_filter(event.value, query)

    def set_filter(self, text: str, query: dict[str, Any]) -> None:
        """Follow the lines ``query`` selects (``text``: the flags, as typed)."""
        self.filter_text = text.strip()
        self.query_one("#logs-filter", Input).value = self.filter_text
        self.query_params = query
        self.connection = ""
        self.restart()
        self.query_one(Log).focus()

    def action_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Submitted, "#logs-search")
    def apply_search(self, event: Input.Submitted) -> None:
        self.set_search(event.value)
        self.query_one(Log).focus()
        self.action_next_match(-1)

    def set_search(self, text: str) -> None:
        self._highlighter.search = text.strip()
        self._match = -1
        log = self.query_one(Log)
        log.notify_style_update()  # drops its cache of rendered lines
        log.refresh()

    def key_escape(self) -> None:
        box = self.query_one("#logs-search", Input)
        if box.has_class("shown"):
            box.remove_class("shown")
            box.value = ""
            self.set_search("")
            self.query_one(Log).focus()

    def action_next_match(self, direction: int) -> None:
        """Jump to the previous (-1, older) or next (+1, newer) line holding the search text."""
        needle = self._highlighter.search.lower()
        log = self.query_one(Log)
        lines = log.lines
        if not needle or not lines:
            return
        start = self._match if self._match >= 0 else len(lines)
        rng = range(start - 1, -1, -1) if direction < 0 else range(start + 1, len(lines))
        for y in rng:
            if needle in lines[y].lower():
                self._match = y
                log.scroll_to(y=max(y - log.size.height // 2, 0), animate=False)
                self.query_one("#logs-note", Static).update(
                    f"match at line {y + 1} of {len(lines)} — n older, N newer")
                return
        self.app.notify(f"no more lines with {self._highlighter.search!r}", timeout=3)

    def action_older(self) -> None:
        if self.target and self.before:
            self.load_older(self.target, dict(self.query_params), self.before)

    @work(thread=True, exclusive=True, group="logs-older", exit_on_error=False)
    def load_older(self, target: str, query: dict[str, Any], before: str) -> None:
        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/logs")
        try:
            page = clients.call("GET", path, query={**query, "limit": OLDER_PAGE,
                                                    "before": before})
            older = read(f"GET {path}", page, _logs_view)
        except PlatError as e:
            if clients.closed:
                return
            self.app.call_from_thread(self.app.notify, e.message, severity="error")
            return
        self.app.call_from_thread(self._prepend, older)

    def _prepend(self, older: LogsPage) -> None:
        if not self._alive():
            return
        log = self.query_one(Log)
        current = list(log.lines)
        if current and current[-1] == "":
            current.pop()
        log.clear()
        log.write_lines(older.lines + current, scroll_end=False)
        log.scroll_to(y=0, animate=False)
        self.before = older.before
        self._show_note()


class LogsPage(NamedTuple):
    lines: list[str]  # rendered as plat logs prints them
    cursor: int | str  # this host's cursor, or on a cluster one per host (text)
    before: str | None  # where older history continues (None: nothing older)
    unreachable: list[dict[str, Any]] = []  # hosts whose lines could not be had


def _logs_view(page: dict[str, Any]) -> LogsPage:
    from tui.render.logs import log_line

    cursors = page.get("cursors")
    return LogsPage([log_line(line) for line in page["lines"]],
                    str(cursors) if cursors is not None else int(page["cursor"]),
                    page.get("before") if page.get("more") else None,
                    list(page.get("unreachable") or []))
