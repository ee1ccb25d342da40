"""The TUI's form of a destructive command's question: type the name of what goes.

The CLI asks on the terminal (``tui.cli.confirm``); in the TUI the same handler asks through
``PaneCtx.ask``, which shows this dialog with the same words: what the command said before it
asked (the consequence), the question, and a box to type into. Escape answers nothing, which
the handler takes as "no".
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TypeNameScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    TypeNameScreen { align: center middle; }
    TypeNameScreen > Vertical { width: 90%; max-width: 110; height: auto;
                                border: thick $error; background: $surface; padding: 0 1; }
    TypeNameScreen #type-name-help { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, said: list[str], question: str) -> None:
        super().__init__()
        self.said = said
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("\n".join([*self.said, self.question.rstrip()]), markup=False,
                         id="type-name-text")
            yield Input(id="type-name-input")
            yield Static("Enter answers, Esc cancels", id="type-name-help")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
