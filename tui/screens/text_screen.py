"""Lines the CLI would print, in a dialog: receipts of mutations, describe output, errors."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class TextScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > Vertical { width: 95%; max-width: 110; height: auto; max-height: 90%;
                            border: thick $accent; background: $surface; padding: 0 1; }
    TextScreen VerticalScroll { height: auto; max-height: 18; }
    TextScreen #text-help { color: $text-muted; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, markup=False, id="text-title")
            with VerticalScroll():
                yield Static("\n".join(self.lines), markup=False, id="text-body")
            yield Static("Enter or Esc closes", id="text-help")

    def action_close(self) -> None:
        self.dismiss(None)
