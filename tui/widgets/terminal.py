"""A terminal pane: a VT emulator (pyte) drawn as a Textual widget, keys turned into bytes.

pyte keeps the screen (colours, cursor movement, scroll regions, erase, insert/delete); this
widget only draws its cells and sends what keys mean to a terminal. pyte has no alternate screen,
so ``AltScreen`` adds the one full-screen programs (``vi``, ``top``, ``less``) switch to and
back from, and it answers the terminal's queries (cursor position, device attributes) through
``respond``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

ALT_SCREEN_MODES = {47, 1047, 1049}
DECCKM = 1 << 5  # application cursor keys, as pyte stores private modes
BRACKETED_PASTE = 2004 << 5
DECCOLM = 3  # 132-column mode: a pane cannot change its width, so it is ignored
DETACH = "\x1d"  # Ctrl-]: leave the session, as telnet does

_CSI_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE_KEYS = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "f5": 15, "f6": 17,
               "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24}
_SS3_KEYS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_PLAIN_KEYS = {"enter": "\r", "tab": "\t", "shift+tab": "\x1b[Z", "escape": "\x1b",
               "backspace": "\x7f", "ctrl+h": "\x08", "space": " "}
_MODIFIERS = {"shift": 2, "alt": 3, "ctrl": 5}
_COLOURS = {"brown": "yellow", "brightbrown": "bright_yellow"}


def key_bytes(key: str, character: str | None, app_cursor: bool = False) -> bytes | None:
    """What a terminal sends for a Textual key (``up``, ``ctrl+a``, ``f5``...); None: nothing."""
    if key in _PLAIN_KEYS:
        return _PLAIN_KEYS[key].encode()
    *mods, base = key.split("+")
    if base in _CSI_KEYS:
        if mods:
            code = 1 + sum(_MODIFIERS.get(m, 0) - 1 for m in mods)
            return f"\x1b[1;{code}{_CSI_KEYS[base]}".encode()
        return f"\x1b{'O' if app_cursor else '['}{_CSI_KEYS[base]}".encode()
    if not mods and base in _TILDE_KEYS:
        return f"\x1b[{_TILDE_KEYS[base]}~".encode()
    if not mods and base in _SS3_KEYS:
        return f"\x1bO{_SS3_KEYS[base]}".encode()
    if character:
        prefix = b"\x1b" if mods and mods[0] == "alt" else b""
        return prefix + character.encode("utf-8", "replace")
    return None


@lru_cache(maxsize=4096)
def _style(fg: str, bg: str, bold: bool, italics: bool, underscore: bool, strike: bool,
           reverse: bool, cursor: bool) -> Style:
    return Style(color=_colour(fg), bgcolor=_colour(bg), bold=bold, italic=italics,
                 underline=underscore, strike=strike, reverse=reverse != cursor)


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return f"#{name}"
    name = _COLOURS.get(name, name)
    return f"bright_{name[6:]}" if name.startswith("bright") and "_" not in name else name


class AltScreen(pyte.Screen):
    """pyte's screen plus the alternate screen buffer and answers to queries."""

    def __init__(self, columns: int, lines: int, respond: Callable[[str], None]) -> None:
        super().__init__(columns, lines)
        self._respond = respond
        self._saved: tuple[dict[int, dict[int, Any]], Any] | None = None

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            if ALT_SCREEN_MODES & set(modes) and self._saved is None:
                self._saved = ({y: dict(line) for y, line in self.buffer.items()},
                               copy.copy(self.cursor))
                self.erase_in_display(2)
            modes = tuple(m for m in modes if m not in ALT_SCREEN_MODES and m != DECCOLM)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            if ALT_SCREEN_MODES & set(modes) and self._saved is not None:
                buffer, cursor = self._saved
                self._saved = None
                self.buffer.clear()
                for y, line in buffer.items():
                    if y < self.lines:
                        self.buffer[y].update(line)
                self.cursor = cursor
                self.cursor.y = min(self.cursor.y, self.lines - 1)
                self.cursor.x = min(self.cursor.x, self.columns - 1)
                self.dirty.update(range(self.lines))
            modes = tuple(m for m in modes if m not in ALT_SCREEN_MODES and m != DECCOLM)
        super().reset_mode(*modes, **kwargs)

    def write_process_input(self, data: str) -> None:
        self._respond(data)


class TerminalPane(Widget, can_focus=True):
    """Draws a remote TTY; ``send`` gets the bytes of keys and pastes, ``resized`` the size."""

    DEFAULT_CSS = """
    TerminalPane { width: 1fr; height: 1fr; }
    """

    def __init__(self, send: Callable[[bytes], None], resized: Callable[[int, int], None],
                 *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._send = send
        self._resized = resized
        self.screen_lock = threading.Lock()
        self.vt = AltScreen(80, 24, lambda text: send(text.encode()))
        self._stream = pyte.ByteStream(self.vt)
        self._pending = bytearray()
        self._scheduled = False

    # --- output ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Output of the remote TTY, from any thread; drawn at most once per refresh."""
        with self.screen_lock:
            self._pending += data
            if self._scheduled:
                return
            self._scheduled = True
        self.app.call_from_thread(self._drain)

    def _drain(self) -> None:
        with self.screen_lock:
            data, self._pending = bytes(self._pending), bytearray()
            self._scheduled = False
            self._stream.feed(data)
        self.refresh()

    def feed_now(self, data: bytes) -> None:
        """Output on the UI thread (tests, local notices)."""
        with self.screen_lock:
            self._stream.feed(data)
        self.refresh()

    def text(self) -> str:
        """What the screen shows, as lines of text (for tests and people reading logs)."""
        return "\n".join(line.rstrip() for line in self.vt.display)

    def render_line(self, y: int) -> Strip:
        vt = self.vt
        width = self.size.width
        if y >= vt.lines:
            return Strip.blank(width)
        row = vt.buffer[y]
        cursor_x = vt.cursor.x if (y == vt.cursor.y and not vt.cursor.hidden
                                    and self.has_focus) else -1
        segments: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        for x in range(min(vt.columns, width)):
            ch = row[x]
            if not ch.data:  # the right half of a wide character
                continue
            style = _style(ch.fg, ch.bg, ch.bold, ch.italics, ch.underscore, ch.strikethrough,
                           ch.reverse, x == cursor_x)
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(ch.data)
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments).extend_cell_length(width).crop(0, width)

    # --- input ------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        rows, cols = event.size.height, event.size.width
        if rows > 0 and cols > 0:
            with self.screen_lock:
                self.vt.resize(rows, cols)
            self._resized(rows, cols)
            self.refresh()

    def on_key(self, event: events.Key) -> None:
        if event.character == DETACH:
            return  # the screen's binding leaves the session
        data = key_bytes(event.key, event.character, DECCKM in self.vt.mode)
        if data is not None:
            event.stop()
            event.prevent_default()
            self._send(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        text = event.text.replace("\n", "\r")
        if BRACKETED_PASTE in self.vt.mode:
            text = f"\x1b[200~{text}\x1b[201~"
        self._send(text.encode())

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
