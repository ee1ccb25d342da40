"""The full-screen TUI: bare ``plat`` opens it.

It shows the env in view (Status, Releases, Events, Logs, Endpoints, Volumes) with the same
words as the CLI, because both render through ``tui.render``; exec sessions open full screen in
a terminal pane (``screens/exec_screen.py``); the command palette takes CLI command lines
(``palette.py``) and runs the CLI's own handlers. All I/O happens in thread workers that each
hold their own client, so a slow or restarting daemon never freezes the screen. ``create_app``
is shared by ``plat``, the tests and the benchmark. The Hosts tab shows the cluster's hosts,
which belong to no env.

Start-up is part of the product: the first screen is Status, so only it is imported and mounted
at start; every other tab's panel is imported and mounted the first time it is shown (or a
command needs it), and the palette's commands are imported when the palette opens.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Provider
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from platd.spec.errors import PlatError
from tui.tabs import KEYS, TABS
from tui.tui_client import ClientFactory, Prefetch, ThreadClients
from tui.widgets.status_panel import StatusPanel

if TYPE_CHECKING:
    from tui.cli.settings import Settings
    from tui.prepaint import PrePaint
    from tui.widgets.releases_panel import ReleasesPanel

WORKER_THREADS = 32


class Tabs(TabbedContent):
    """Textual's tabs, without switching to a pane because something inside it got the focus.

    Textual reports such a focus later, as a message, and a report still in flight when a key
    switches tabs switched back: the key was lost, and with the app putting the focus into each
    tab it shows, two reports in flight made the tabs take turns forever. Here tabs change only
    by keys, clicks and commands (every one calls ``show_tab`` first); the focus follows the tab,
    never the other way round.
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # the base class's handler is the switch described above


class EnvPanel(Protocol):
    """What every tab's panel has: the env it shows, and whether its tab is in view."""

    target: Any
    in_view: bool


# What gets the focus in a panel, so its keys ("b": roll back) work at once.
FOCUS_IN_PANEL = "DataTable, RichLog, Log"


class MainScreen(Screen[Any]):
    """The app's first screen. Its focus starts where the Status tab puts it (``focus_tab``),
    not on the tab bar first: the first frame is then the one that stays, and the one bare
    ``plat`` paints before Textual is loaded (``tui/prepaint.py``)."""

    AUTO_FOCUS = "#status DataTable"


def palette_commands() -> type[Provider]:
    """The palette's provider, imported when the palette first opens (it builds the CLI's
    parser)."""
    from tui.palette import PlatCommands

    return PlatCommands


class PlatApp(App[int]):
    TITLE = "plat"
    CSS = """
    #target-bar { height: 1; padding: 0 1; background: $boost; }
    TabbedContent { height: 1fr; }
    """
    COMMANDS = App.COMMANDS | {palette_commands}
    BINDINGS = [
        *(Binding(key, action, description) for key, action, description in KEYS),
        # Declaring the palette's action here replaces Textual's own ctrl+p binding: keep it.
        Binding("ctrl+p", "command_palette", "Commands", priority=True, show=False),
        Binding("colon", "command_palette", "Commands", show=False),
    ]

    def __init__(
        self, client_factory: ClientFactory, api: str, target: str | None,
        remember_target: Callable[[str], None] | None = None, *, token: str | None = None,
        exec_api: str | None = None, prefetch: Prefetch | None = None,
    ) -> None:
        super().__init__()
        self.clients = ThreadClients(client_factory, prefetch)
        self.api = api
        self.exec_api = exec_api or api  # where exec websockets go (tests show a fixed api)
        self.token = token
        self.target = target
        self._remember = remember_target
        # Applied to what reaches the screen without the client (exec refusals and banners);
        # snapshot tests replace run-to-run noise with it.
        self.present: Callable[[Any], Any] = _same

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="target-bar")
        self.tabs = Tabs(initial="status")
        with self.tabs:
            for tab, (title, _panel) in TABS.items():
                with TabPane(title, id=tab):
                    if tab == "status":
                        yield StatusPanel()
        yield Footer()

    def on_mount(self) -> None:
        # Thread workers run on the loop's default executor, which Python sizes from the CPU
        # count (6 threads on 2 cores); the panels' long polls alone would fill it and a
        # rollback preview or an exec session would wait for a free thread.
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="plat-tui"))
        if self.target:
            self.set_target(self.target)
        else:
            self.action_pick_env()

    def on_unmount(self) -> None:
        self.clients.abort_all()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)

    def worker_failed(self, worker: Worker[Any]) -> None:
        """Workers read what platd says and never exit the app (exit_on_error=False); one that
        stops on something unforeseen is said, and the rest of the app goes on
        (``widgets/failures.py``)."""
        if not self.clients.closed:
            from tui.render.errors import panel_failed

            self.notify(panel_failed(worker.error or RuntimeError()), severity="error",
                        timeout=10)

    def set_target(self, target: str) -> None:
        self.target = target
        self.sub_title = target
        self.query_one("#target-bar", Static).update(f"env {target}  ·  {self.api}")
        for panel in self.panels():
            cast(EnvPanel, panel).target = target

    def panels(self) -> list[Widget]:
        """The tabs' panels mounted so far."""
        return [pane.children[0] for pane in self.tabs.query(TabPane) if pane.children]

    def panel(self, tab: str, then: Callable[[Any], None] | None = None) -> Any:
        """The panel of ``tab``, imported, made and mounted the first time it is needed (it
        starts on the env in view once mounted); ``then(panel)`` runs when its parts are
        there. (The tabs are asked, not the app: a dialog may be the current screen.)"""
        pane = self.tabs.get_pane(tab)
        if pane.children:
            panel: Widget = pane.children[0]
            if then is not None and panel.is_mounted:
                then(panel)
            elif then is not None:  # mounted a moment ago: its parts are not there yet
                panel.call_after_refresh(then, panel)
            return panel
        module, name = TABS[tab][1].split(":")
        panel = getattr(importlib.import_module(module), name)()
        pane.mount(panel)

        def aim() -> None:
            if self.target:
                cast(EnvPanel, panel).target = self.target

        panel.call_after_refresh(aim)
        if then is not None:
            panel.call_after_refresh(then, panel)
        return panel

    def action_pick_env(self) -> None:
        from tui.screens.env_picker import EnvPicker

        def chosen(path: str | None) -> None:
            if path:
                self._chose(path)

        self.push_screen(EnvPicker(), chosen)

    def action_show_tab(self, tab: str) -> None:
        """Show ``tab``; a panel mounted just now is shown once its parts are there."""
        panel = self.panel(tab)
        if panel.is_mounted:
            self.tabs.active = tab
        else:
            panel.call_after_refresh(setattr, self.tabs, "active", tab)

    @on(TabbedContent.TabActivated)
    def focus_tab(self, event: TabbedContent.TabActivated) -> None:
        if not self.tabs.is_attached:
            return  # the app is closing
        shown = self.panel(str(event.pane.id))  # a click on a tab shows it without show_tab
        for panel in self.panels():
            cast(EnvPanel, panel).in_view = panel is shown
        # Keys like "b" (roll back) belong to the panel: put the focus inside it (once its
        # parts are there, for a panel mounted just now).
        target = event.pane.query(FOCUS_IN_PANEL)
        if target:
            target.first().focus()
        else:
            shown.call_after_refresh(self._focus_in, event.pane)

    def _focus_in(self, pane: Widget) -> None:
        target = pane.query(FOCUS_IN_PANEL)
        if target and self.tabs.active_pane is pane:
            target.first().focus()

    def on_releases_panel_rolled_back(self, message: ReleasesPanel.RolledBack) -> None:
        self.notify(message.note, timeout=6)
        self.action_show_tab("events")

    # --- exec ---------------------------------------------------------------------------------

    def action_exec(self, workload: str | None = None, instance: str | None = None,
                    cmd: list[str] | None = None) -> None:
        """A shell (or ``cmd``) in an instance: the one selected in Status, else platd's choice
        by the rules of ``plat exec`` (a visible pick when several are running)."""
        from tui.screens.exec_screen import ExecScreen, ExecTarget

        if not self.target:
            self.notify("pick an env first (e)", severity="warning")
            return
        if instance is None and workload is None and isinstance(self.focused, DataTable) \
                and self.focused.id == "instances" and self.focused.row_count:
            table = self.focused
            instance = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        back_to = self.focused

        def ended(result: dict[str, Any] | None) -> None:
            # Once the session's screen is gone: the keys it held back (q, the palette) are
            # shown again, and the notification goes on the screen the user is back on.
            self.call_after_refresh(self._exec_ended, result or {}, back_to)

        what = ExecTarget(self.target, workload, instance, list(cmd or []))
        self.push_screen(ExecScreen(what, self.exec_api, self.token), ended)

    def _exec_ended(self, result: dict[str, Any], back_to: Widget | None) -> None:
        self.refresh_bindings()
        if result.get("error"):
            self.notify(result["error"], severity="error", timeout=10)
        elif result.get("instance"):
            code = result.get("code")
            how = f"ended with exit code {code}" if code is not None else "was left"
            self.notify(f"exec session in instance {result['instance']} {how}", timeout=6)
        if back_to is not None and back_to.is_attached:
            back_to.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # In an exec session every key belongs to the remote terminal (Ctrl-Q, Ctrl-P too).
        # (Checked by module so that starting the app does not import the VT emulator.)
        module = sys.modules.get("tui.screens.exec_screen")
        in_exec = module is not None and isinstance(self.screen, module.ExecScreen)
        return not (action in ("quit", "command_palette") and in_exec)

    # --- the command palette ------------------------------------------------------------------

    def run_command_line(self, line: str) -> None:
        """Run a CLI command line (``rollback v3``, ``logs -w web``) against the env in view."""
        from tui.palette import parse_line

        try:
            args = parse_line(line)
            self._dispatch(args)
        except PlatError as e:
            hint = "\n".join(h for h in e.hint if h)
            self.notify(f"{e.message}\n{hint}".strip(), severity="error", timeout=10)

    def _dispatch(self, args: Any) -> None:
        from platd.spec.errors import InvalidInput

        verb = args.command
        if verb == "use":
            self._chose(args.path.strip("/"))
            return
        target = getattr(args, "target", None) or self.target
        if target and target != self.target:
            self._chose(target)
        if not self.target:
            raise InvalidInput("no env in view",
                               hint="pick one with e, or: use ORG/PROJECT/APP/ENV")
        if verb in ("status", "instances"):
            self.action_show_tab("status")
        elif verb == "releases":
            self.action_show_tab("releases")
        elif verb == "events":
            self.panel("events", lambda panel: panel.set_release(args.release or ""))
            self.action_show_tab("events")
        elif verb == "logs":
            from tui.widgets.logs_panel import parse_filters

            flags = _logs_flags(args)
            query = parse_filters(flags)
            self.panel("logs", lambda panel: panel.set_filter(flags, query))
            self.action_show_tab("logs")
        elif verb == "exec":
            self.action_exec(args.workload, args.instance, args.cmd)
        elif verb == "rollback":
            here = self.target
            self.panel("releases", lambda panel: panel.preview(here, args.release))
        elif verb in ("endpoints", "exposed"):
            self.panel("endpoints", lambda panel: setattr(panel, "exposed", verb == "exposed"))
            self.action_show_tab("endpoints")
            if verb == "endpoints" and args.action != "list":
                self.run_cli(self.target, args)
        elif verb == "volumes":
            self.action_show_tab("volumes")
            if args.action != "list":
                self.run_cli(self.target, args)
        else:  # scale, describe: the CLI's own handler, its words in a dialog
            self.run_cli(self.target, args)

    @work(thread=True, group="palette", exit_on_error=False)
    def run_cli(self, target: str, args: Any) -> None:
        """Run a CLI command's handler against the env in view; show what it said."""
        from tui.answers import SHAPE_ERRORS
        from tui.cli.context import ERR, OUT
        from tui.cli.runner import execute
        from tui.palette import PaneCtx, command_text
        from tui.render.errors import command_unreadable

        ctx = PaneCtx(self.clients.get(), self.api, self.token, target, asker=self.ask_from_worker)
        try:
            code = execute(args, ctx)
        except SHAPE_ERRORS as e:  # what platd answered is not what this plat reads
            self.call_from_thread(self.notify, command_unreadable(command_text(args), e),
                                  severity="error", timeout=10)
            return
        if code != 0:
            self.call_from_thread(self.notify, ctx.text(ERR).rstrip("\n"), severity="error",
                                  timeout=10)
            return
        self.call_from_thread(self.show_lines, f"plat {command_text(args)}", ctx.lines(OUT))

    def ask_from_worker(self, said: list[str], question: str) -> str | None:
        """A command handler's question (``Ctx.ask``), asked in a dialog; called from a worker
        thread, which waits for the answer (None: cancelled)."""
        import threading

        from tui.screens.type_name import TypeNameScreen

        answered = threading.Event()
        answer: list[str | None] = [None]

        def done(value: str | None) -> None:
            answer[0] = value
            answered.set()

        self.call_from_thread(self.push_screen, TypeNameScreen(said, question), done)
        while not answered.wait(0.2):
            if not self.is_running:  # the app closed with the dialog open: nobody answers
                return None
        return answer[0]

    def show_lines(self, title: str, lines: list[str]) -> None:
        from tui.screens.text_screen import TextScreen

        self.push_screen(TextScreen(title, lines))

    def _chose(self, path: str) -> None:
        if self._remember is not None:
            self._remember(path)
        self.set_target(path)


def _same(value: Any) -> Any:
    return value


def _logs_flags(args: Any) -> str:
    """The filter flags of a parsed ``plat logs`` line, as the Logs pane's filter box shows."""
    import shlex

    flags = []
    for name in ("workload", "instance", "severity", "since"):
        value = getattr(args, name, None)
        if value:
            flags += [f"--{name}", value]
    if getattr(args, "source", "all") != "all":
        flags += ["--source", args.source]
    return shlex.join(flags)


def create_app(api: str, token: str | None, target: str | None,
               remember_target: Callable[[str], None] | None = None,
               prefetch: Prefetch | None = None) -> PlatApp:
    def client() -> Any:
        from tui.client import Client  # in the worker's thread, not before the first paint

        return Client(api, token)

    return PlatApp(client, api, target, remember_target, token=token, prefetch=prefetch)


def remember(path: str) -> None:
    """Keep the env in view for the next run, where `plat use` keeps it (one default)."""
    from tui.cli import settings

    data = settings.load()
    data["target"] = path
    settings.save(data)


def run_tui(stored: Settings, prefetch: Prefetch | None = None,
            painted: PrePaint | None = None) -> int:
    """The app on the daemon and env of ``stored`` (``prefetch``: answers already asked for;
    ``painted``: the first frame already on the screen, which the app takes over)."""
    app = create_app(str(stored.api), stored.token, stored.default_target, remember, prefetch)
    if painted is not None:
        from tui.handover import handover_driver

        app.driver_class = handover_driver(painted)
    app.run()
    return app.return_code or 0
