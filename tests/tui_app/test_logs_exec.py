"""Pilot tests of the Logs pane, exec sessions (picker and terminal pane) and the palette,
against a real daemon with the fake runtime (its exec echoes what it is sent)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual.widgets import DataTable, Log, OptionList, TabbedContent

from tests.conftest import Daemon
from tests.tui_app.conftest import TARGET, make_app
from tests.tui_app.test_tui import wait_for
from tui.screens.confirm import ConfirmScreen
from tui.screens.exec_picker import ExecPicker
from tui.screens.exec_screen import ExecScreen
from tui.screens.text_screen import TextScreen
from tui.widgets.logs_panel import LogsPanel
from tui.widgets.terminal import TerminalPane


def _running(d: Daemon) -> int:
    r = d.plat("instances", "web", "--json", "--target", TARGET)
    return sum(i["state"] == "running" for i in r.json()["instances"])


def _scale(d: Daemon, count: int) -> None:
    assert d.plat("scale", "web", "--count", str(count), "--target", TARGET).code == 0
    for _ in range(200):
        if _running(d) == count:
            return
        time.sleep(0.05)
    raise AssertionError(f"web never had {count} running instances")


def test_logs_pane_follows_filters_pauses_and_searches(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("4")
            panel = app.query_one(LogsPanel)
            log = app.query_one(Log)
            await wait_for(pilot, lambda: log.line_count > 0 and app.focused is log)
            text = "\n".join(log.lines)
            assert " system " in text  # the platform's own records
            assert "rollout" in text

            # Pause: new lines are held, then shown on resume.
            await pilot.press("p")
            assert panel.paused
            before = log.line_count
            assert tui_daemon.plat("scale", "web", "--count", "1", "--cpu", "0.3",
                                   "--target", TARGET).code == 0
            await wait_for(pilot, lambda: len(panel.held) > 0)
            assert log.line_count == before
            assert "PAUSED" in str(app.query_one("#logs-note").render())
            await pilot.press("p")
            await pilot.pause(0.3)
            await wait_for(pilot, lambda: log.line_count > before and not panel.held)

            # Search marks and jumps.
            await pilot.press("slash")
            await pilot.press(*"converged", "enter")
            assert panel._highlighter.search == "converged"
            assert app.focused is log

            # The filter box takes plat logs flags.
            await pilot.press("f")
            await pilot.press(*"--source app", "enter")
            await wait_for(pilot, lambda: panel.query_params["source"] == "app")
            await pilot.pause(0.5)
            assert all(" app " in line for line in log.lines if line)
            await pilot.press("f", "ctrl+a", "ctrl+k")
            await pilot.press(*"--bogus", "enter")
            await pilot.pause(0.2)
            assert panel.query_params["source"] == "app", "a bad filter changes nothing"
            assert tui_daemon.plat("scale", "web", "--count", "1", "--cpu", "0.25",
                                   "--target", TARGET).code == 0

    asyncio.run(run())


def test_exec_picker_then_terminal_pane_then_back(tui_daemon: Daemon) -> None:
    _scale(tui_daemon, 2)
    expected = {i["id"] for i in tui_daemon.plat("instances", "web", "--json", "--target",
                                                 TARGET).json()["instances"]
                if i["state"] == "running"}

    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("2")
            table = app.query_one("#releases-table", DataTable)
            await wait_for(pilot, lambda: table.row_count > 0 and app.focused is table)
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ExecPicker))
            picker = app.screen
            assert "env acme/shop/hello/prod has 2 running instances; pick one" in str(
                picker.query_one("#pick-title").render())
            options = picker.query_one(OptionList)
            assert options.option_count == 2
            first = options.get_option_at_index(0).id
            assert first in expected
            await pilot.press("enter")
            # The banner is updated from the session's thread just after the session is set.
            await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen)
                           and app.screen.session is not None
                           and "plat: exec in" in str(app.screen.query_one("#exec-banner")
                                                      .render()))
            screen = app.screen
            banner = str(screen.query_one("#exec-banner").render())
            assert f"plat: exec in instance {first} (workload web" in banner
            term = screen.query_one(TerminalPane)
            assert app.focused is term
            await pilot.press(*"echo-me", "tab", "q")  # q, tab: keys for the remote, not the app
            await wait_for(pilot, lambda: "echo-me" in term.text())
            await pilot.press("ctrl+p")  # shell history, not the palette
            await pilot.pause(0.2)
            assert app.screen is screen
            await pilot.press("ctrl+right_square_bracket")
            await wait_for(pilot, lambda: not isinstance(app.screen, ExecScreen))
            assert app.query_one(TabbedContent).active == "releases"
            assert app.focused is table, "back where the session was opened from"

    try:
        asyncio.run(run())
    finally:
        _scale(tui_daemon, 1)


def test_exec_from_a_selected_instance_asks_nothing(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.query_one("#instances", DataTable)
            await wait_for(pilot, lambda: table.row_count == 1)
            table.focus()
            await pilot.press("x")
            chosen = str(table.get_row_at(0)[0])
            # The banner is updated from the session's thread just after the session is set.
            await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen)
                           and app.screen.session is not None
                           and chosen in str(app.screen.query_one("#exec-banner").render()))
            await pilot.press("ctrl+right_square_bracket")
            await wait_for(pilot, lambda: not isinstance(app.screen, ExecScreen))
            assert app.focused is table

    asyncio.run(run())


def test_palette_runs_cli_lines(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.query_one("#workloads", DataTable).row_count == 1)
            app.run_command_line("logs -w web --source system")
            await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "logs")
            assert app.query_one("#logs-filter").value == "--workload web --source system"
            app.run_command_line("describe workload web")
            await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
            assert "web" in "\n".join(app.screen.lines)
            await pilot.press("escape")
            app.run_command_line("scale web --count 1")
            await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
            lines: Any = app.screen.lines
            assert lines[0].startswith(f"Scale of web in {TARGET} accepted")
            await pilot.press("escape")
            app.run_command_line("rollback v1")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert f"Roll {TARGET} back to release v1" in app.screen.lines[0]
            await pilot.press("n")
            app.run_command_line("deploy -f plat.toml")  # not a TUI verb: said, nothing runs
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmScreen)

    asyncio.run(run())


def test_endpoints_and_volumes_panels(tui_daemon: Daemon) -> None:
    from tests.conftest import free_port
    from tests.tui_app.conftest import remove_resources
    from tui.widgets.endpoints_panel import EndpointsPanel
    from tui.widgets.volumes_panel import VolumesPanel

    port = free_port()
    r = tui_daemon.plat("endpoints", "create", "public", "--workload", "web", "--internal-port",
                        "8080", "--port", str(port), "--target", TARGET)
    assert r.code == 0, r.err

    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.query_one("#workloads", DataTable).row_count == 1)
            await pilot.press("5")
            panel = app.query_one(EndpointsPanel)
            table = panel.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1 and app.focused is table)
            assert [str(c) for c in table.get_row_at(0)][:4] == ["public", "web", "8080",
                                                                  str(port)]
            await pilot.press("enter")  # describe, as plat endpoints describe
            await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
            assert app.screen.lines[0] == f"Endpoint public of {TARGET}"
            await pilot.press("escape")
            await pilot.press("o")  # the org-wide view: plat exposed
            await wait_for(pilot, lambda: panel.exposed and table.row_count == 1
                           and str(table.get_row_at(0)[5]) == TARGET)

            # Volumes: created from the palette, with the CLI's receipt.
            app.run_command_line("volumes create data --size 1G")
            await wait_for(pilot, lambda: isinstance(app.screen, TextScreen), timeout=60)
            assert app.screen.lines[0].startswith(f"Volume data created in {TARGET}: 1G")
            await pilot.press("escape")
            await pilot.press("6")
            vtable = app.query_one(VolumesPanel).query_one(DataTable)
            await wait_for(pilot, lambda: vtable.row_count == 1 and app.focused is vtable)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
            assert app.screen.lines[0].startswith("volume data (")
            assert any("plat volumes snapshot create data" in line for line in app.screen.lines)

    try:
        asyncio.run(run())
    finally:
        remove_resources(tui_daemon)
