"""The Volumes panel: the env's volumes as ``plat volumes list`` shows them; Enter describes one
(size, usage, host, attachment, snapshots, and the commands that resize or snapshot it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from tui.widgets.resource_panel import ResourcePanel


class VolumesPanel(ResourcePanel):
    kind = "volume"
    help_text = "the env's volumes — Enter describes (size, usage, snapshots, commands)"

    def headers(self) -> Sequence[str]:
        from tui.render.volumes import VOLUME_HEADERS

        return VOLUME_HEADERS

    def list_path(self, clients: Any, target: str) -> str:
        return str(clients.get().env_path(target, "/volumes"))

    def rows(self, data: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        from tui.render.volumes import volume_row

        return [(v["name"], volume_row(v)) for v in data["volumes"]]

    def note(self, data: dict[str, Any]) -> str:
        lines = [self.help_text if data["volumes"] else
                 f"no volumes in {data['target']} — create one: plat volumes create NAME "
                 f"--size 1G --target {data['target']}"]
        if data.get("unavailable"):
            lines.append(f"note: sized volumes are unavailable on this host: "
                         f"{data['unavailable']}")
        return "\n".join(lines)

    def describe_path(self, clients: Any, target: str, key: str) -> str | None:
        return str(clients.get().env_path(target, "/volumes/" + quote(key, safe="")))

    def describe_lines(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        from tui.render.volumes import volume_lines

        return f"plat volumes describe {data['name']}", volume_lines(data)
