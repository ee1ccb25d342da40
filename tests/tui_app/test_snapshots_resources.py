"""Snapshots of the Endpoints (env and org-wide exposed) and Volumes views, and their describe
dialogs, at 80x24 and 120x40: the real app against a real daemon (fake runtime) that holds an
endpoint and a real 1G volume (XFS on a loop device).

Kept apart from test_snapshots.py so that the other screens do not depend on these resources.
Endpoint ports are free ports picked per run; ``StableClient.ports`` shows them as 8443.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.conftest import Daemon
from tests.tui_app.conftest import deployed_daemon, make_app
from tests.tui_app.test_snapshots import SIZES, _ready, _steady
from tests.tui_app.test_tui import wait_for
from tui.screens.text_screen import TextScreen
from tui.widgets.endpoints_panel import EndpointsPanel
from tui.widgets.volumes_panel import VolumesPanel


@pytest.fixture(scope="module")
def res_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with deployed_daemon(tmp_path_factory.mktemp("tui-res"), resources=True) as d:
        yield d


async def _tab(pilot: Any, key: str, panel_class: type, rows: int) -> DataTable[Any]:
    """Shows the tab under ``key`` and waits for its table to hold ``rows`` rows, focused."""
    app = pilot.app
    await _ready(pilot)
    await pilot.press(key)
    table = app.query_one(panel_class).query_one(DataTable)
    try:
        await wait_for(pilot, lambda: table.row_count == rows and app.focused is table)
    except AssertionError as e:
        raise AssertionError(f"tab {key}: {table.row_count} rows (want {rows}), focus on "
                             f"{app.focused!r}, tab {app.query_one('TabbedContent').active}"
                             ) from e
    return table


@pytest.mark.parametrize("size", SIZES)
def test_endpoints(res_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await _tab(pilot, "5", EndpointsPanel, 1)
        await _steady(pilot)

    assert snap_compare(make_app(res_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_exposed(res_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        table = await _tab(pilot, "5", EndpointsPanel, 1)
        await pilot.press("o")
        # One row per address family the endpoint listens on (IPv6 only, by default).
        await wait_for(pilot, lambda: app.query_one(EndpointsPanel)._shown is not None
                       and "exposed" in app.query_one(EndpointsPanel)._shown
                       and table.row_count >= 1)
        await _steady(pilot)

    assert snap_compare(make_app(res_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_endpoint_describe(res_daemon: Daemon, snap_compare: Any,
                           size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _tab(pilot, "5", EndpointsPanel, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        await _steady(pilot)

    assert snap_compare(make_app(res_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_volumes(res_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        await _tab(pilot, "6", VolumesPanel, 1)
        await _steady(pilot)

    assert snap_compare(make_app(res_daemon), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_volume_describe(res_daemon: Daemon, snap_compare: Any, size: tuple[int, int]) -> None:
    async def settle(pilot: Any) -> None:
        app = pilot.app
        await _tab(pilot, "6", VolumesPanel, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen))
        await _steady(pilot)

    assert snap_compare(make_app(res_daemon), terminal_size=size, run_before=settle)
