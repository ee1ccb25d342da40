"""The terminal pane on its own: what keys send, and how a remote TTY's output is drawn."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult

from tui.widgets.terminal import TerminalPane, key_bytes


@pytest.mark.parametrize(
    ("key", "character", "app_cursor", "sent"),
    [
        ("a", "a", False, b"a"),
        ("enter", "\r", False, b"\r"),
        ("ctrl+c", "\x03", False, b"\x03"),
        ("ctrl+d", "\x04", False, b"\x04"),
        ("up", None, False, b"\x1b[A"),
        ("up", None, True, b"\x1bOA"),  # vi and less switch to application cursor keys
        ("ctrl+left", None, False, b"\x1b[1;5D"),
        ("pageup", None, False, b"\x1b[5~"),
        ("f1", None, False, b"\x1bOP"),
        ("f12", None, False, b"\x1b[24~"),
        ("escape", "\x1b", False, b"\x1b"),
        ("tab", "\t", False, b"\t"),
        ("backspace", "\x7f", False, b"\x7f"),
        ("eacute", "é", False, "é".encode()),
        ("shift+f13", None, False, None),
    ],
)
def test_key_bytes(key: str, character: str | None, app_cursor: bool, sent: bytes | None) -> None:
    assert key_bytes(key, character, app_cursor) == sent


class PaneApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.sizes: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        yield TerminalPane(self.sent.append, lambda r, c: self.sizes.append((r, c)))


def test_pane_draws_colours_moves_and_the_alternate_screen() -> None:
    async def run() -> None:
        app = PaneApp()
        async with app.run_test(size=(40, 10)) as pilot:
            pane = app.query_one(TerminalPane)
            await pilot.pause()
            assert app.sizes[-1] == (10, 40), "the remote TTY is told the pane's size"
            pane.feed_now(b"\x1b[31mred\x1b[0m plain\r\n\x1b[5;3Hat 5,3")
            await pilot.pause()
            lines = pane.text().splitlines()
            assert lines[0] == "red plain"
            assert lines[4] == "  at 5,3"
            red = pane.render_line(0)
            assert str(next(iter(red)).style.color.name) == "red"  # type: ignore[union-attr]
            # A full-screen program: enter the alternate screen, draw, leave; the shell's
            # screen comes back as it was.
            pane.feed_now(b"\x1b[?1049h\x1b[2J\x1b[Htop - 12:00\x1b[?1h")
            await pilot.pause()
            assert pane.text().splitlines()[0] == "top - 12:00"
            await pilot.press("up")
            assert app.sent[-1] == b"\x1bOA"
            pane.feed_now(b"\x1b[?1l\x1b[?1049l")
            await pilot.pause()
            assert pane.text().splitlines()[0] == "red plain"
            # The terminal answers a cursor position query (programs size themselves so).
            pane.feed_now(b"\x1b[6n")
            assert app.sent[-1] == b"\x1b[5;9R"  # row 5, column 9: after "  at 5,3"
            await pilot.resize_terminal(60, 15)
            await pilot.pause()
            assert app.sizes[-1] == (15, 60)

    asyncio.run(run())
