"""A live table of one kind of env resource with a describe on Enter: the shape the Endpoints
and Volumes panels share. Rows and columns come from ``tui.render``, as in the CLI's lists; the
describe dialog shows the CLI's describe lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from platd.spec.errors import PlatError
from tui.answers import read
from tui.render.connection import pane_retrying
from tui.widgets.failures import SaysWorkerFailures
from tui.widgets.table_fill import fill

REFRESH_SECONDS = 2.0


class ResourcePanel(SaysWorkerFailures, Vertical):
    """Subclasses say what to list (``list_path``, ``headers``, ``rows``) and describe."""

    DEFAULT_CSS = """
    ResourcePanel { height: 1fr; }
    ResourcePanel .resource-note { height: auto; padding: 0 1; }
    ResourcePanel DataTable { height: 1fr; }
    """
    BINDINGS = [Binding("d", "describe", "Describe")]

    target: reactive[str | None] = reactive(None)
    in_view = True  # set by the app: False while another tab is shown
    _shown: dict[str, Any] | None = None  # the answer on screen
    kind = "resource"
    help_text = ""

    def compose(self) -> ComposeResult:
        yield Static(self.help_text, classes="resource-note", markup=False)
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*self.headers())

    def watch_target(self, target: str | None) -> None:
        if target:
            self.poll(target)

    # --- what a subclass says -----------------------------------------------------------------

    def headers(self) -> Sequence[str]:
        raise NotImplementedError

    def list_path(self, clients: Any, target: str) -> str:
        raise NotImplementedError

    def rows(self, data: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        """(key, cells) for each row of the answer to ``list_path``."""
        raise NotImplementedError

    def note(self, data: dict[str, Any]) -> str:
        return self.help_text

    def describe_path(self, clients: Any, target: str, key: str) -> str | None:
        return None

    def describe_lines(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        raise NotImplementedError

    # --- the loop and the keys ------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False)
    def poll(self, target: str) -> None:
        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        while not worker.is_cancelled and not clients.closed:
            path = self.list_path(clients, target)
            try:
                data = clients.call("GET", path)
                view = read(f"GET {path}", data, lambda data: (self.note(data), self.rows(data)))
                if worker.is_cancelled:
                    return
                self.app.call_from_thread(self.show, data, view)
            except PlatError as e:
                if clients.closed:
                    return
                self.app.call_from_thread(self.show_error, "".join(pane_retrying(e)))
            clients.next_poll(REFRESH_SECONDS, self)

    def restart(self) -> None:
        self._shown = None
        self.query_one(DataTable).clear()
        if self.target:
            self.poll(self.target)

    def show_error(self, text: str) -> None:
        self._shown = None  # the note no longer goes with the rows shown
        self._set_note(text)

    def _set_note(self, text: str) -> None:
        if self.query(".resource-note"):
            self.query_one(".resource-note", Static).update(text)

    def show(self, data: dict[str, Any], view: tuple[str, list[tuple[str, list[Any]]]]) -> None:
        """Show ``view`` (the note and rows read from ``data``, the answer)."""
        if data == self._shown:
            return  # unchanged: no redraw
        self._shown = data
        if not self.query(DataTable):
            return
        note, rows = view
        self._set_note(note)
        table = self.query_one(DataTable)
        selected = table.cursor_row
        fill(table, [(key, ["-" if c is None else str(c) for c in cells]) for key, cells in rows])
        if rows:
            table.move_cursor(row=min(selected, len(rows) - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_describe()

    def action_describe(self) -> None:
        table = self.query_one(DataTable)
        if not self.target or table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        path = self.describe_path(self.app.clients, self.target, str(key))  # type: ignore[attr-defined]
        if path:
            self.describe(path)

    @work(thread=True, group="describe", exit_on_error=False)
    def describe(self, path: str) -> None:
        clients = self.app.clients  # type: ignore[attr-defined]
        try:
            title, lines = read(f"GET {path}", clients.call("GET", path), self.describe_lines)
        except PlatError as e:
            self.app.call_from_thread(self.app.notify, "\n".join([e.message, *e.hint]),
                                      severity="error", timeout=8)
            return
        self.app.call_from_thread(self.app.show_lines, title, lines)  # type: ignore[attr-defined]
