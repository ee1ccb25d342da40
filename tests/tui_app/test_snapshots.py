"""Snapshots of the Releases screen at 80x24 and 120x40, against a real daemon of its own.

The Status screen is covered by pilot tests instead: its instance rows change with reconcile
timing, which made its snapshot flaky.

This module gets a fresh daemon (the fixture is per module), so what is on screen depends only
on the deploys the fixture makes, never on the pilot tests' rollbacks and scaling.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from tests.conftest import Daemon
from tests.tui_app.conftest import make_app
from tests.tui_app.test_tui import wait_for


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("tab", ["2"])
def test_snapshot(tui_daemon: Daemon, snap_compare: Any, size: tuple[int, int], tab: str) -> None:
    async def settle(pilot: Any) -> None:
        await pilot.press(tab)
        app = pilot.app
        selector = "#workloads" if tab == "1" else "#releases-table"
        table = app.query_one(selector, DataTable)
        await wait_for(pilot, lambda: table.row_count > 0 and app.focused is table)
        await pilot.pause(0.5)

    assert snap_compare(make_app(tui_daemon), terminal_size=size, run_before=settle)
