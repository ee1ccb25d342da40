"""Choosing the org/project/app/env in view; the choice is remembered like `plat use`."""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from platd.spec.errors import PlatError
from tui.answers import read
from tui.widgets.failures import SaysWorkerFailures


class EnvPicker(SaysWorkerFailures, ModalScreen[str | None]):
    DEFAULT_CSS = """
    EnvPicker { align: center middle; }
    EnvPicker > Vertical { width: 70; height: auto; max-height: 80%; border: thick $accent;
                           background: $surface; padding: 0 1; }
    EnvPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("r", "reload", "Try again")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick an env (org/project/app/env):", id="picker-title")
            yield OptionList(id="envs")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="env-picker", exit_on_error=False)
    def load(self) -> None:
        clients = self.app.clients  # type: ignore[attr-defined]
        try:
            paths = _all_envs(clients)
        except PlatError as e:
            if get_current_worker().is_cancelled:  # r pressed meanwhile: the new load answers
                return
            # A timeout or a wrong answer is often passing: the picker stays, and r asks again.
            self.app.call_from_thread(self.query_one("#picker-title", Static).update,
                                      f"[red]{escape(e.message)}[/] (press r to try again)")
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show, paths)

    def show(self, paths: list[str]) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        if not paths:
            self.query_one("#picker-title", Static).update(
                "No envs yet: create one with `plat envs create ORG/PROJECT/APP/ENV`")
            return
        options.add_options([Option(p, id=p) for p in paths])
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_reload(self) -> None:
        self.query_one("#picker-title", Static).update("Pick an env (org/project/app/env):")
        self.load()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _all_envs(clients: object) -> list[str]:
    call = clients.call  # type: ignore[attr-defined]

    def children(plural: str, parent: str | None) -> list[str]:
        query = {"parent": parent} if parent is not None else {}
        rows = call("GET", f"/v1/tree/{plural}", query=query)
        return read(f"GET /v1/tree/{plural}", rows, lambda rows: [str(r["path"]) for r in rows])

    paths: list[str] = []
    for org in children("orgs", None):
        for project in children("projects", org):
            for app in children("apps", project):
                paths += children("envs", app)
    return paths
