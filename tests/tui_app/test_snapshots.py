"""Snapshots of every TUI screen at 80x24 and 120x40, the real app against a real daemon.

The daemon (fake runtime) is this module's own, so what is on screen depends only on the
deploys its fixture makes. What differs from run to run (ids, times, digests, host) is replaced
by the client (``StableClient``, names computed once from the daemon's history); the Events and
Logs views are filtered to lines whose order the rollout's causality fixes (``--release v1``;
``-w web --source system``), since unrelated records of one pass may be stored in either order.
Screens that change the env (exec) come last.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Log, OptionList, RichLog

from tests.conftest import Daemon
from tests.tui_app.conftest import CANARY, TARGET, deployed_daemon, make_app
from tests.tui_app.test_tui import wait_for
from tui.screens.confirm import ConfirmScreen
from tui.screens.env_picker import EnvPicker
from tui.screens.exec_picker import ExecPicker
from tui.screens.exec_screen import ExecScreen
from tui.screens.text_screen import TextScreen
from tui.widgets.terminal import TerminalPane

SIZES = [(80, 24), (120, 40)]
# Colours, bold, reverse, absolute cursor moves and a clear: what a remote TTY sends.
VT_DEMO = (b"\x1b[2J\x1b[H\x1b[1;32mplat\x1b[0m exec pane \x1b[7m reverse \x1b[0m "
           b"\x1b[38;5;208m256-colour\x1b[0m\r\n\x1b[4;6H\x1b[44;97m row 4, column 6 \x1b[0m"
           b"\x1b[6;1H$ ")


@pytest.fixture(scope="module")
def snap_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with deployed_daemon(tmp_path_factory.mktemp("tui-snap"), canary=True) as d:
        yield d


async def _ready(pilot: Any) -> None:
    """The app is mounted and has shown the env's status once."""
    app = pilot.app
    await wait_for(pilot, lambda: app.query_one("#instances", DataTable).row_count >= 1)


async def _steady(pilot: Any) -> None:
    """No blinking cursors, and the screen unchanged for a while: the footer, for one, redraws
    its bindings a few frames after the focus moves."""
    app = pilot.app
    for screen in app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False
    previous = ""
    for _ in range(20):
        await pilot.pause(0.3)
        shot = app.export_screenshot()
        if shot == previous:
            return
        previous = shot


@pytest.mark.parametrize("size", SIZES)
def test_status(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        table = app.query_one("#instances", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_releases(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await pilot.press("2")
        app = pilot.app
        table = app.query_one("#releases-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2 and app.focused is table)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_events(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _ready(pilot)
        app.run_command_line("events --release v1")
        await wait_for(pilot, lambda: bool(app.query("#event-log")))  # mounted when first shown
        log = app.query_one("#event-log", RichLog)
        await wait_for(pilot, lambda: any("stopped and removed" in str(line)
                                          for line in log.lines))
        app.set_focus(log)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_logs(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _ready(pilot)
        app.run_command_line("logs -w web --source system")
        await wait_for(pilot, lambda: bool(app.query(Log)))  # mounted when first shown
        log = app.query_one(Log)
        await wait_for(pilot, lambda: any("stopped and removed" in line for line in log.lines)
                       and app.focused is log)
        await pilot.press("slash", *"healthy", "enter")  # the search marks its matches
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_env_picker(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, EnvPicker))
        await wait_for(pilot, lambda: app.screen.query_one(OptionList).option_count == 2)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon, target=None), terminal_size=size,
                        run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_confirm(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await pilot.press("2")
        app = pilot.app
        table = app.query_one("#releases-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2 and app.focused is table)
        await pilot.press("down", "b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_describe(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _ready(pilot)
        app.run_command_line("describe release v2")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_palette(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"rollback", "space", "v", "1")

        def shown() -> bool:
            lists = app.screen.query("CommandList")
            return bool(lists) and lists.first(OptionList).option_count > 0 and "rollback v1" in \
                str(lists.first(OptionList).get_option_at_index(0).prompt)

        await wait_for(pilot, shown)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_exec_picker(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.query_one("#instances", DataTable).row_count == 2)
        await pilot.press("x")

        def picker_ready() -> bool:
            # The picker is up, its list focused with the first instance highlighted: a frame
            # taken before that differs from the settled screen only in the highlight.
            if not isinstance(app.screen, ExecPicker):
                return False
            options = app.screen.query_one(OptionList)
            return app.focused is options and options.highlighted == 0

        await wait_for(pilot, picker_ready)
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon, target=CANARY), terminal_size=size,
                        run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_exec_session(snap_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.query_one("#instances", DataTable).row_count == 1)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen)
                       and app.screen.session is not None)
        # The fake runtime's shell echoes what it is sent: send what a program would print.
        app.screen.session.send(VT_DEMO)
        term = app.screen.query_one(TerminalPane)
        await wait_for(pilot, lambda: "row 4, column 6" in term.text())
        await _steady(pilot)

    assert snap_compare(make_app(snap_daemon), terminal_size=size, run_before=settle)


__all__ = ["TARGET"]
