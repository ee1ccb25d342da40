"""A table's cells are never painted clipped to a column's old width, whenever the screen
happens to paint.

Textual's DataTable widens an auto-width column only when the table is next idle and caches
what it painted without the widths in the key, so a screen update that landed between a
panel's new rows and that idle left ``edge`` for the host ``edge-1`` on screen
(``test_snapshots_resources.py::test_volumes`` caught it about 1 run in 4 under load). Here the
real Volumes panel, in a real headless app, is painted at exactly that moment on purpose, as
the screen would, so the test does not depend on timing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tui.widgets.volumes_panel import VolumesPanel

TARGET = "acme/shop/hello/prod"


def answer(host: str) -> dict[str, Any]:
    """``GET .../volumes`` with one unattached 1G volume on ``host``, as platd answers it."""
    return {"target": TARGET, "volumes": [{
        "name": "data", "size_label": "1G", "usage": {"used_label": "1.5M"},
        "host": {"id": "host-0000-stable0001", "name": host, "labels": {}},
        "attached": None, "snapshots": []}]}


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield VolumesPanel()  # no target: shows only what the test hands it


def painted(table: DataTable[Any]) -> list[str]:
    """The header and first row as the screen would paint them now."""
    return [table.render_line(y).text for y in (0, 1)]


def test_a_host_name_wider_than_its_header_is_shown_whole_at_once() -> None:
    async def run() -> None:
        app = PanelApp()
        async with app.run_test(size=(80, 10)) as pilot:
            panel = app.query_one(VolumesPanel)
            table = panel.query_one(DataTable)
            await pilot.pause()
            for host in ("edge-1", "edge-1.eu-west.example"):  # the first answer, then a wider
                data = answer(host)
                panel.show(data, (panel.note(data), panel.rows(data)))
                early = painted(table)  # the screen paints before the table is next idle
                await pilot.pause()
                await pilot.pause()  # the table has been idle since
                for lines in (early, painted(table)):
                    header, row = lines
                    assert f" {host} " in row, lines
                    # The host's column starts under HOST and the next one after the name.
                    assert row.index(host) == header.index("HOST"), lines
                    assert header.index("ATTACHED") > row.index(host) + len(host), lines

    asyncio.run(run())
