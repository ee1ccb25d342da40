"""Which instance to exec into, when platd will not choose: the list `plat exec` shows.

platd refuses to pick among several running instances and returns them in the refusal's
``details.instances``; this screen shows them with the CLI's question and columns
(``tui.render.instances``: ``exec_pick_title``, ``instance_lines``) and answers with the chosen id.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ExecPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ExecPicker { align: center middle; }
    ExecPicker > Vertical { width: 100%; max-width: 110; height: auto; max-height: 90%;
                            border: thick $accent; background: $surface; padding: 0; }
    ExecPicker Static { padding: 0 1; }
    ExecPicker #pick-header { color: $text-muted; }
    ExecPicker OptionList { height: auto; max-height: 14; border: none; padding: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, candidates: list[dict[str, Any]], workload: str | None,
                 target: str) -> None:
        super().__init__()
        self.candidates = candidates
        self.workload = workload
        self.target = target

    def compose(self) -> ComposeResult:
        from tui.render.instances import exec_pick_title, instance_lines

        header, *rows = instance_lines(self.candidates)
        with Vertical():
            yield Static(exec_pick_title(self.workload, self.target, len(self.candidates)),
                         markup=False, id="pick-title")
            yield Static(f"   {header}", markup=False, id="pick-header")
            yield OptionList(*[Option(f"{n:>2} {row}", id=c["id"]) for n, (row, c)
                               in enumerate(zip(rows, self.candidates, strict=True), start=1)],
                             id="pick-list")
            yield Static("Enter: exec there  ·  1-9: pick by number  ·  Esc: cancel",
                         id="pick-help")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_key(self, event: Any) -> None:
        if event.character and event.character.isdigit():
            n = int(event.character)
            if 1 <= n <= len(self.candidates):
                event.stop()
                self.dismiss(self.candidates[n - 1]["id"])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
