"""The Hosts panel: the cluster's hosts as ``plat hosts`` lists them, with its summary line;
Enter describes one as ``plat hosts describe`` does.

Hosts belong to the cluster, not to the env in view: the panel shows the same list whatever
env is picked, and starts as soon as it is mounted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from textual.widgets import DataTable

from tui.widgets.resource_panel import ResourcePanel


class HostsPanel(ResourcePanel):
    kind = "host"
    help_text = "the cluster's hosts — Enter describes one (state, addresses, events)"
    describe_hint = "Enter describes a host (state, addresses, events)"

    def on_mount(self) -> None:
        # (Textual runs ResourcePanel's on_mount, which adds the columns, as well.)
        self.poll("")

    def watch_target(self, target: str | None) -> None:
        pass  # the same hosts for every env

    def restart(self) -> None:
        self._shown = None
        self.query_one(DataTable).clear()
        self.poll("")

    def headers(self) -> Sequence[str]:
        from tui.render.hosts import HOST_HEADERS

        return HOST_HEADERS

    def list_path(self, clients: Any, target: str) -> str:
        return "/v1/hosts"

    def rows(self, data: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        from tui.render.hosts import host_row

        return [(h["id"], host_row(h)) for h in data["hosts"]]

    def note(self, data: dict[str, Any]) -> str:
        from tui.render.hosts import hosts_lines

        if not data.get("cluster"):
            return "\n".join(hosts_lines(data))
        # The list's own last line: the cluster's summary.
        return f"{hosts_lines(data)[-1]}\n{self.describe_hint}"

    def action_describe(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.describe("/v1/hosts/" + quote(str(key), safe=""))

    def describe_lines(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        from tui.render.hosts import host_lines

        return f"plat hosts describe {data['name']}", host_lines(data)
