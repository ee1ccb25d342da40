"""The full-screen TUI: bare ``plat`` opens it.

It shows the env in view (Status, Releases, Events) with the same words as the CLI, because both
render through ``tui.render``; all I/O happens in thread workers that each hold their own client,
so a slow or restarting daemon never freezes the screen. ``create_app`` is shared by ``plat``
and the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from tui.tui_client import ClientFactory, ThreadClients
from tui.widgets.events_panel import EventsPanel
from tui.widgets.releases_panel import ReleasesPanel
from tui.widgets.status_panel import StatusPanel


class PlatApp(App[int]):
    TITLE = "plat"
    CSS = """
    #target-bar { height: 1; padding: 0 1; background: $boost; }
    TabbedContent { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("e", "pick_env", "Env"),
        Binding("1", "show_tab('status')", "Status"),
        Binding("2", "show_tab('releases')", "Releases"),
        Binding("3", "show_tab('events')", "Events"),
    ]

    def __init__(
        self, client_factory: ClientFactory, api: str, target: str | None,
        remember_target: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.clients = ThreadClients(client_factory)
        self.api = api
        self.target = target
        self._remember = remember_target

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="target-bar")
        with TabbedContent(initial="status"):
            with TabPane("Status", id="status"):
                yield StatusPanel()
            with TabPane("Releases", id="releases"):
                yield ReleasesPanel()
            with TabPane("Events", id="events"):
                yield EventsPanel()
        yield Footer()

    def on_mount(self) -> None:
        if self.target:
            self.set_target(self.target)
        else:
            self.action_pick_env()

    def set_target(self, target: str) -> None:
        self.target = target
        self.sub_title = target
        self.query_one("#target-bar", Static).update(f"env {target}  ·  {self.api}")
        for panel in (StatusPanel, ReleasesPanel, EventsPanel):
            self.query_one(panel).target = target

    def action_pick_env(self) -> None:
        from tui.screens.env_picker import EnvPicker

        def chosen(path: str | None) -> None:
            if path:
                if self._remember is not None:
                    self._remember(path)
                self.set_target(path)

        self.push_screen(EnvPicker(), chosen)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated)
    def focus_tab(self, event: TabbedContent.TabActivated) -> None:
        # Keys like "b" (roll back) belong to the panel: put the focus inside it.
        target = event.pane.query("DataTable, RichLog")
        if target:
            target.first().focus()

    @on(ReleasesPanel.RolledBack)
    def rolled_back(self, message: ReleasesPanel.RolledBack) -> None:
        r = message.receipt
        self.notify(f"rollback to {r['release']['version']} accepted; follow it in Events",
                    timeout=6)
        self.action_show_tab("events")


def create_app(api: str, token: str | None, target: str | None,
               remember_target: Callable[[str], None] | None = None) -> PlatApp:
    from tui.client import Client

    return PlatApp(lambda: Client(api, token), api, target, remember_target)


def run_tui() -> int:
    from platd.spec.errors import Unauthenticated
    from tui.cli import settings

    api = settings.api()
    if not api:
        e = Unauthenticated("plat does not know which daemon to talk to",
                            hint="log in first: plat login --api http://127.0.0.1:7400 --token TOKEN")
        print(f"error: {e.message}\n  {e.hint[0]}", file=sys.stderr)
        return e.exit_code

    def remember(path: str) -> None:
        data = settings.load()
        data["target"] = path
        settings.save(data)

    app = create_app(api, settings.token(), settings.default_target(), remember)
    app.run()
    return app.return_code or 0
