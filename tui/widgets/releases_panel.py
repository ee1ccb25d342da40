"""The Releases panel: the env's releases, and a rollback that shows its receipt first."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from platd.spec.errors import PlatError
from tui.answers import read
from tui.render.connection import pane_retrying
from tui.widgets.failures import SaysWorkerFailures
from tui.widgets.table_fill import fill

REFRESH_SECONDS = 2.0
HELP = "select a release and press b to roll back to it"


class ReleasesPanel(SaysWorkerFailures, Vertical):
    DEFAULT_CSS = """
    ReleasesPanel { height: 1fr; }
    ReleasesPanel #releases-note { height: auto; padding: 0 1; }
    """
    BINDINGS = [Binding("b", "rollback", "Roll back to selected")]

    target: reactive[str | None] = reactive(None)
    in_view = True  # set by the app: False while another tab is shown
    _shown: list[tuple[str, list[str]]] | None = None

    class RolledBack(Message):
        """A rollback was accepted; ``receipt`` is what the daemon answered, ``note`` what to
        tell the user."""

        def __init__(self, receipt: dict[str, Any], note: str) -> None:
            super().__init__()
            self.receipt = receipt
            self.note = note

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="releases-note")
        yield DataTable(id="releases-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("", "RELEASE", "CREATED", "BY", "STATUS", "CONFIG",
                                              "IMAGES")

    def watch_target(self, target: str | None) -> None:
        if target:
            self.poll(target)

    @work(thread=True, exclusive=True, group="releases", exit_on_error=False)
    def poll(self, target: str) -> None:
        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/releases")
        while not worker.is_cancelled and not clients.closed:
            try:
                rows = read(f"GET {path}", clients.call("GET", path), release_rows)
                self.app.call_from_thread(self.show, rows)
            except PlatError as e:
                if clients.closed:
                    return
                message, rest = pane_retrying(e)
                self.app.call_from_thread(self.show_error,
                                          f"[red]{escape(message)}[/]{escape(rest)}")
            clients.next_poll(REFRESH_SECONDS, self)

    def show_error(self, text: str) -> None:
        self._shown = None  # the note no longer goes with the rows shown
        self.note(text)

    def note(self, text: str) -> None:
        if self.query("#releases-note"):
            self.query_one("#releases-note", Static).update(text)

    def show(self, rows: list[tuple[str, list[str]]]) -> None:
        if rows == self._shown:
            return  # unchanged: no redraw
        self._shown = rows
        if not self.query(DataTable):
            return  # the app is closing
        self.note(HELP)
        table = self.query_one(DataTable)
        selected = table.cursor_row
        fill(table, rows)
        if rows:
            table.move_cursor(row=min(selected, len(rows) - 1))

    def action_rollback(self) -> None:
        table = self.query_one(DataTable)
        if not self.target or table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.preview(self.target, str(key))

    @work(thread=True, exclusive=True, group="rollback", exit_on_error=False)
    def preview(self, target: str, release_id: str | None) -> None:
        """Ask platd what a rollback would do (``None``: its choice, the last good release),
        show that receipt, and roll back to the release it names only after a yes."""
        from tui.render.receipts import receipt as receipt_lines

        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/rollback")
        try:
            receipt = clients.call("POST", path, body={"release": release_id, "dry_run": True})
            chosen, lines = read(f"POST {path}", receipt,
                                 lambda r: (str(r["release"]["id"]), receipt_lines(r)))
        except PlatError as e:
            if clients.closed:
                return
            self.app.call_from_thread(self.app.notify, e.message, severity="error", timeout=8)
            return
        self.app.call_from_thread(self._confirm, target, chosen, lines)

    def _confirm(self, target: str, release_id: str, lines: list[str]) -> None:
        from tui.screens.confirm import ConfirmScreen

        back_to = self.app.focused

        def decided(yes: bool | None) -> None:
            if back_to is not None and back_to.is_attached:
                back_to.focus()  # back where the user was, ready for the next key
            if yes:
                self.commit(target, release_id)

        self.app.push_screen(ConfirmScreen(lines, "Roll back"), decided)

    @work(thread=True, exclusive=True, group="rollback", exit_on_error=False)
    def commit(self, target: str, release_id: str) -> None:
        from tui.render.receipts import rolled_back_note

        clients = self.app.clients  # type: ignore[attr-defined]
        path = clients.get().env_path(target, "/rollback")
        try:
            # The preview the person just said yes to warned if the release failed before.
            receipt = clients.call("POST", path,
                                   body={"release": release_id, "accept_failed": True})
            note = read(f"POST {path}", receipt, rolled_back_note)
        except PlatError as e:
            if clients.closed:
                return
            self.app.call_from_thread(self.app.notify, e.message, severity="error", timeout=8)
            return
        self.post_message(self.RolledBack(receipt, note))


def release_rows(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(release id, cells) for each release of ``GET .../releases``, newest first."""
    from platd.spec.timeparse import format_utc
    from tui.render.text import digest_short

    rows = []
    for r in data["releases"]:
        images = ", ".join(f"{w}={digest_short(i)}" for w, i in sorted(r["images"].items()))
        rows.append((str(r["id"]), ["*" if r["current"] else "", r["version"],
                                    format_utc(r["created_at"], millis=False),
                                    str(r["created_by"]), r["status"], str(r["config_version"]),
                                    images]))
    return rows
