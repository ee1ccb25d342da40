"""Choosing the org/project/app/env in view; the choice is remembered like `plat use`."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from platd.spec.errors import PlatError


class EnvPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    EnvPicker { align: center middle; }
    EnvPicker > Vertical { width: 70; height: auto; max-height: 80%; border: thick $accent;
                           background: $surface; padding: 0 1; }
    EnvPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick an env (org/project/app/env):", id="picker-title")
            yield OptionList(id="envs")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="env-picker")
    def load(self) -> None:
        clients = self.app.clients  # type: ignore[attr-defined]
        try:
            paths = _all_envs(clients)
        except PlatError as e:
            self.app.call_from_thread(self.query_one("#picker-title", Static).update,
                                      f"[red]{e.message}[/]")
            return
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

    def action_cancel(self) -> None:
        self.dismiss(None)


def _all_envs(clients: object) -> list[str]:
    call = clients.call  # type: ignore[attr-defined]
    paths: list[str] = []
    for org in call("GET", "/v1/tree/orgs"):
        for project in call("GET", "/v1/tree/projects", query={"parent": org["path"]}):
            for app in call("GET", "/v1/tree/apps", query={"parent": project["path"]}):
                paths += [e["path"] for e in call("GET", "/v1/tree/envs",
                                                  query={"parent": app["path"]})]
    return paths
