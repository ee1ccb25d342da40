"""The Releases panel: the env's releases, and a rollback that shows its receipt first."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from platd.spec.errors import PlatError

REFRESH_SECONDS = 2.0


class ReleasesPanel(Vertical):
    DEFAULT_CSS = """
    ReleasesPanel { height: 1fr; }
    ReleasesPanel #releases-note { height: auto; padding: 0 1; }
    """
    BINDINGS = [Binding("b", "rollback", "Roll back to selected")]

    target: reactive[str | None] = reactive(None)
    in_view = True  # set by the app: False while another tab is shown
    _shown: dict[str, Any] | None = None

    class RolledBack(Message):
        """A rollback was accepted; ``receipt`` is what the daemon answered."""

        def __init__(self, receipt: dict[str, Any]) -> None:
            super().__init__()
            self.receipt = receipt

    def compose(self) -> ComposeResult:
        yield Static("select a release and press b to roll back to it", id="releases-note")
        yield DataTable(id="releases-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("", "RELEASE", "CREATED", "BY", "STATUS", "CONFIG",
                                              "IMAGES")

    def watch_target(self, target: str | None) -> None:
        if target:
            self.poll(target)

    @work(thread=True, exclusive=True, group="releases")
    def poll(self, target: str) -> None:
        worker = get_current_worker()
        clients = self.app.clients  # type: ignore[attr-defined]
        while not worker.is_cancelled and not clients.closed:
            try:
                data = clients.call("GET", clients.get().env_path(target, "/releases"))
                self.app.call_from_thread(self.show, data)
            except PlatError as e:
                if clients.closed:
                    return
                self.app.call_from_thread(self.note, f"[red]{e.message}[/] (retrying)")
            clients.next_poll(REFRESH_SECONDS, self)

    def note(self, text: str) -> None:
        self.query_one("#releases-note", Static).update(text)

    def show(self, data: dict[str, Any]) -> None:
        if data == self._shown:
            return  # unchanged: no redraw
        self._shown = data
        from platd.spec.timeparse import format_utc
        from tui.render import digest_short

        self.note("select a release and press b to roll back to it")
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        for r in data["releases"]:
            images = ", ".join(f"{w}={digest_short(i)}" for w, i in sorted(r["images"].items()))
            table.add_row("*" if r["current"] else "", r["version"],
                          format_utc(r["created_at"], millis=False), r["created_by"], r["status"],
                          str(r["config_version"]), images, key=r["id"])
        if data["releases"]:
            table.move_cursor(row=min(selected, len(data["releases"]) - 1))

    def action_rollback(self) -> None:
        table = self.query_one(DataTable)
        if not self.target or table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.preview(self.target, str(key))

    @work(thread=True, exclusive=True, group="rollback")
    def preview(self, target: str, release_id: str | None) -> None:
        """Ask platd what a rollback would do (``None``: its choice, the last good release),
        show that receipt, and roll back to the release it names only after a yes."""
        clients = self.app.clients  # type: ignore[attr-defined]
        try:
            receipt = clients.call("POST", clients.get().env_path(target, "/rollback"),
                                   body={"release": release_id, "dry_run": True})
        except PlatError as e:
            if clients.closed:
                return
            self.app.call_from_thread(self.app.notify, e.message, severity="error", timeout=8)
            return
        self.app.call_from_thread(self._confirm, target, receipt["release"]["id"], receipt)

    def _confirm(self, target: str, release_id: str, receipt: dict[str, Any]) -> None:
        from tui.render import receipt as receipt_lines
        from tui.screens.confirm import ConfirmScreen

        back_to = self.app.focused

        def decided(yes: bool | None) -> None:
            if back_to is not None and back_to.is_attached:
                back_to.focus()  # back where the user was, ready for the next key
            if yes:
                self.commit(target, release_id)

        self.app.push_screen(ConfirmScreen(receipt_lines(receipt), "Roll back"), decided)

    @work(thread=True, exclusive=True, group="rollback")
    def commit(self, target: str, release_id: str) -> None:
        clients = self.app.clients  # type: ignore[attr-defined]
        try:
            receipt = clients.call("POST", clients.get().env_path(target, "/rollback"),
                                   body={"release": release_id})
        except PlatError as e:
            if clients.closed:
                return
            self.app.call_from_thread(self.app.notify, e.message, severity="error", timeout=8)
            return
        self.post_message(self.RolledBack(receipt))
