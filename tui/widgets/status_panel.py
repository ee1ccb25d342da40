"""The Status panel: workloads with desired vs current, and every instance, refreshed live."""

from __future__ import annotations

from typing import Any, NamedTuple

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from platd.spec.errors import PlatError
from tui.answers import read
from tui.widgets.failures import SaysWorkerFailures
from tui.widgets.table_fill import fill

REFRESH_SECONDS = 1.0


class StatusPanel(SaysWorkerFailures, Vertical):
    DEFAULT_CSS = """
    StatusPanel { height: 1fr; }
    StatusPanel #status-summary { height: auto; padding: 0 1; }
    StatusPanel DataTable { height: auto; max-height: 50%; margin: 1 0 0 0; }
    """

    target: reactive[str | None] = reactive(None)
    in_view = True  # set by the app: False while another tab is shown
    _shown: StatusView | None = None

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="status-summary")
        yield DataTable(id="workloads", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="instances", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        from tui.render.status import INSTANCE_COLUMNS, WORKLOAD_COLUMNS

        self.query_one("#workloads", DataTable).add_columns(*WORKLOAD_COLUMNS)
        self.query_one("#instances", DataTable).add_columns(*INSTANCE_COLUMNS)

    def watch_target(self, target: str | None) -> None:
        if not target:
            return
        # bare plat asked for the status while Textual loaded: if the answer is here, it is in
        # the first frame.
        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/status")
        early = clients.early(path)
        if early is not None:
            ok, answer = early
            try:
                if not ok:
                    raise answer
                self.show(read(f"GET {path}", answer, status_view))
            except PlatError as e:
                self.show_error(e)
        self.poll(target, wait_first=early is not None)

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def poll(self, target: str, wait_first: bool = False) -> None:
        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/status")
        if wait_first:
            clients.next_poll(REFRESH_SECONDS, self)
        while not worker.is_cancelled and not clients.closed:
            try:
                view = read(f"GET {path}", clients.call("GET", path), status_view)
                self.app.call_from_thread(self.show, view)
            except PlatError as e:
                if clients.closed:
                    return
                self.app.call_from_thread(self.show_error, e)
            clients.next_poll(REFRESH_SECONDS, self)

    def show_error(self, e: PlatError) -> None:
        from rich.markup import escape

        from tui.render.connection import pane_retrying

        self._shown = None  # the summary no longer shows the last answer
        if self.query("#status-summary"):
            message, rest = pane_retrying(e)
            self.query_one("#status-summary", Static).update(
                f"[red]{escape(message)}[/]{escape(rest)}")

    def show(self, view: StatusView) -> None:
        if view == self._shown:
            return  # unchanged: no redraw
        self._shown = view
        if not self.query("#instances"):
            return  # the app is closing
        self.query_one("#status-summary", Static).update(view.summary)
        fill(self.query_one("#workloads", DataTable), [(None, row) for row in view.workloads])
        fill(self.query_one("#instances", DataTable), [(row[0], row) for row in view.instances])


class StatusView(NamedTuple):
    summary: str  # Rich markup
    workloads: list[tuple[str, ...]]
    instances: list[tuple[str, ...]]  # the instance id first


def status_view(s: dict[str, Any]) -> StatusView:
    """What the panel shows of ``GET .../status``, in the CLI's words (``plat status``)."""
    from rich.markup import escape

    from tui.render.status import status_rows

    rows = status_rows(s)
    summary = "\n".join(f"[red]{escape(text)}[/]" if alarm else escape(text)
                        for text, alarm in rows.summary)
    return StatusView(summary, rows.workloads, rows.instances)
