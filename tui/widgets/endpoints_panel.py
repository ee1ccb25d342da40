"""The Endpoints panel: the env's endpoints, or (``o``) everything the org exposes, the answer
of ``plat exposed``; Enter describes an endpoint as ``plat endpoints describe`` does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable

from tui.widgets.resource_panel import ResourcePanel


class EndpointsPanel(ResourcePanel):
    BINDINGS = [Binding("o", "toggle_exposed", "Org exposed")]
    kind = "endpoint"
    help_text = "the env's endpoints — Enter describes, o: what the whole org exposes"

    exposed: reactive[bool] = reactive(False, init=False)

    def headers(self) -> Sequence[str]:
        from tui.render.endpoints import ENDPOINT_HEADERS, EXPOSED_HEADERS

        return EXPOSED_HEADERS if self.exposed else ENDPOINT_HEADERS

    def list_path(self, clients: Any, target: str) -> str:
        if self.exposed:
            return f"/v1/orgs/{quote(target.split('/')[0], safe='')}/exposed"
        return str(clients.get().env_path(target, "/endpoints"))

    def rows(self, data: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        from tui.render.endpoints import endpoint_row, exposed_row

        if "exposed" in data:
            return [(f"{x['target']}|{x['endpoint']}|{x['family']}|{x['port']}", exposed_row(x))
                    for x in data["exposed"]]
        return [(e["target"] + "|" + e["name"], endpoint_row(e)) for e in data["endpoints"]]

    def note(self, data: dict[str, Any]) -> str:
        if "exposed" in data:
            head = f"exposed to the internet by org {data['org']}"
            if not data["exposed"]:
                head = f"nothing in org {data['org']} is exposed"
            return f"{head} — Enter describes, o: back to the env's endpoints"
        if not data["endpoints"]:
            from tui.render.endpoints import endpoints_table

            return "\n".join(endpoints_table(data))
        return self.help_text

    def describe_path(self, clients: Any, target: str, key: str) -> str | None:
        env, name = key.split("|")[:2]
        return str(clients.get().env_path(env, "/endpoints/" + quote(name, safe="")))

    def describe_lines(self, data: dict[str, Any]) -> tuple[str, list[str]]:
        from tui.render.endpoints import endpoint_lines

        return f"plat endpoints describe {data['name']}", endpoint_lines(data)

    def watch_exposed(self, exposed: bool) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*self.headers())
        self.restart()

    def action_toggle_exposed(self) -> None:
        self.exposed = not self.exposed
