"""The first frame of bare ``plat``, painted before Textual is imported.

Importing Textual takes longer on its own (about 0.4 s on a small machine) than asking platd for
the env's status and drawing it, so bare ``plat`` enters the alternate screen and draws the
Status tab as the Textual app's first frame shows it (header, target bar, tab bar, summary,
tables, the footer's empty bar: cell for cell and colour for colour), then imports Textual,
whose first frame replaces it without a visible change (``tui/handover.py``). Keys typed
meanwhile wait in the terminal's input queue (echo and line editing are off) for the app.

Only what can be laid out exactly is painted. Not a tty, no env in view, a Textual setting that
changes its look (``TEXTUAL_LOOKS``), characters of unknown width, or a terminal too small for
the tab bar, title or tables to fit without clipping or scrolling: nothing is painted, and
Textual starts as before. The words come from ``tui.render``;
``tests/tui_app/test_prepaint.py`` compares this frame with Textual's in a real terminal
(tmux), so a Textual upgrade that changes its look fails there, not on the user's screen.

Imports: the standard library, ``tui.render``, and two small pieces of Rich that Textual uses
for the same job (the colour downgrade of its console and the word wrap of its text).
"""

from __future__ import annotations

import itertools
import os
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from tui.render.status import StatusRows
    from tui.tui_client import Prefetch

# Textual's settings that change its first frame or how it takes the terminal: with one of these
# in the environment, nothing is painted before Textual.
TEXTUAL_LOOKS = ("TEXTUAL_COLOR_SYSTEM", "TEXTUAL_FILTERS", "TEXTUAL_DIM_FACTOR", "TEXTUAL_THEME",
                 "TEXTUAL_DRIVER", "TEXTUAL_SCREENSHOT", "TEXTUAL_PRESS", "TEXTUAL_DEBUG")

# How long the frame waits for platd's answer before it is painted without it ("loading…", as
# Textual shows it too): a slow platd must not hold back Textual's start. PLAT_TUI_ANSWER_WAIT
# (seconds, up to MAX_WAIT) sets it: for a platd far away, and for tests on a busy machine.
ANSWER_WAIT = 0.3
MAX_WAIT = 30.0


class Style(NamedTuple):
    fg: tuple[int, int, int] | None
    bg: tuple[int, int, int]
    bold: bool = False


def _rgb(hex6: str) -> tuple[int, int, int]:
    return int(hex6[0:2], 16), int(hex6[2:4], 16), int(hex6[4:6], 16)


# The colours Textual's default theme (textual-dark) gives each part of the app's first frame,
# after its compositor's blending.
BACKGROUND = _rgb("121212")
TEXT = _rgb("e0e0e0")
HEADER = Style(TEXT, _rgb("242f38"))
SUB_TITLE = Style(_rgb("a0a3a6"), HEADER.bg)
TARGET_BAR = Style(TEXT, _rgb("1b1b1b"))
TAB_ACTIVE = Style(TEXT, BACKGROUND)
TAB = Style(_rgb("797979"), BACKGROUND)
UNDERLINE = Style(_rgb("262626"), BACKGROUND)
PLAIN = Style(TEXT, BACKGROUND)
ALARM = Style(_rgb("ff0000"), BACKGROUND)
# DataTable: the focused one (workloads) and the other (instances)
FOCUSED = {"header": Style(TEXT, _rgb("2d3740"), True),
           "cursor": Style(_rgb("ddedf9"), _rgb("0178d4"), True),
           "odd": Style(TEXT, _rgb("272727")), "even": Style(TEXT, _rgb("1c1c1c"))}
BLURRED = {"header": Style(TEXT, _rgb("242f38"), True),
           "cursor": Style(TEXT, _rgb("153854")),
           "odd": Style(TEXT, _rgb("1e1e1e")), "even": Style(TEXT, _rgb("171717"))}
FOOTER = Style(TEXT, HEADER.bg)

Segment = tuple[str, Style]
Row = list[Segment]


def frame(width: int, height: int, target: str, api: str,
          body: StatusRows | tuple[str, str] | None) -> list[Row] | None:
    """The app's first frame: ``body`` is the Status tab's rows, or (message, rest) of an
    error, or None before platd answered. None when Textual would lay it out otherwise
    (wrapped, clipped, scrolled), which this does not reproduce.

    As in Textual's first frame, the footer is an empty bar (its keys come a refresh later)
    and the active tab is not underlined yet."""
    from tui.tabs import TABS

    tabs = [title for title, _ in TABS.values()]
    title = f"plat — {target}"
    title_width = width - 18  # between the header's icon (8 cells) and its right end (10)
    bar = f"env {target}  ·  {api}"
    if 1 + sum(len(t) + 2 for t in tabs) > width or len(title) > title_width \
            or len(bar) > width - 2 or not _plain(target, api, *tabs):
        return None
    left = (title_width - len(title)) // 2
    rows: list[Row] = [
        [(" ⭘" + " " * 6 + " " * left, HEADER), ("plat", HEADER),
         (f" — {target}", SUB_TITLE), _fill(width - 8 - left - len(title), HEADER)],
        [(f" {bar}", TARGET_BAR), _fill(width - 1 - len(bar), TARGET_BAR)],
        _tab_bar(width, tabs),
        [("━" * width, UNDERLINE)],
    ]
    body_rows = _body(width, height - 5, body)
    if body_rows is None:
        return None
    rows += body_rows
    rows += [[_fill(width, PLAIN)]] * (height - 1 - len(rows))
    rows.append([_fill(width, FOOTER)])
    return rows


def _fill(n: int, style: Style) -> Segment:
    return (" " * n, style)


# Beyond ASCII, the characters plat's own words use that are one cell wide everywhere.
ONE_CELL = frozenset("—·…×─│└├")


def _plain(*texts: str) -> bool:
    """Only text whose every character takes one cell, as this module counts them."""
    return all(t.isprintable() and (t.isascii() or all(c.isascii() or c in ONE_CELL for c in t))
               for t in texts)


def _tab_bar(width: int, tabs: list[str]) -> Row:
    row: Row = [(" ", TAB)]
    for n, title in enumerate(tabs):
        row += [(title, TAB_ACTIVE if n == 0 else TAB), ("  ", TAB)]
    used = sum(len(t) for t, _ in row[:-1])
    row[-1] = _fill(width - used, TAB)
    return row


def _body(width: int, height: int, body: StatusRows | tuple[str, str] | None) -> list[Row] | None:
    from tui.render.status import INSTANCE_COLUMNS, WORKLOAD_COLUMNS, StatusRows

    workloads: list[tuple[str, ...]] = []
    instances: list[tuple[str, ...]] = []
    lines: list[Row]  # the summary's lines, before wrapping
    if body is None:
        lines = [[("loading…", PLAIN)]]
    elif not isinstance(body, StatusRows):
        message, rest = body
        lines = [[(message, ALARM), (rest, PLAIN)]]
    else:
        lines = [[(text, ALARM if alarm else PLAIN)] for text, alarm in body.summary]
        workloads, instances = body.workloads, body.instances
    if not _plain(*(text for line in lines for text, _ in line)):
        return None
    out: list[Row] = []
    for line in lines:
        for piece in _wrap(line, width - 2):  # inside the summary's padding of one cell
            used = sum(len(t) for t, _ in piece)
            if used > width - 2:
                return None  # spaces at the end of the text, which Textual would crop
            out.append([(" ", PLAIN), *piece, _fill(width - 1 - used, PLAIN)])
    table_limit = height // 2 - 1  # the tables' max-height (50%), with a row to spare
    for columns, cells, colours in ((WORKLOAD_COLUMNS, workloads, FOCUSED),
                                    (INSTANCE_COLUMNS, instances, BLURRED)):
        table = _table(width, columns, cells, colours)
        if table is None or len(table) > table_limit:
            return None
        out += [[_fill(width, PLAIN)], *table]
    return out if len(out) <= height else None


def _wrap(line: Row, width: int) -> list[Row]:
    """``line`` in lines of ``width`` cells, broken where Textual breaks a Static's text (Rich's
    word wrap, the same function; spaces at a break dropped)."""
    from rich._wrap import divide_line

    plain = "".join(t for t, _ in line)
    cuts = [0, *divide_line(plain, width), len(plain)]
    out = []
    for n, (start, end) in enumerate(itertools.pairwise(cuts)):
        piece: Row = []
        at = 0
        for text, style in line:
            part = text[max(start - at, 0):max(end - at, 0)]
            if part:
                piece.append((part, style))
            at += len(text)
        if n < len(cuts) - 2 and piece:  # not the last: its trailing spaces go
            last_text, last_style = piece[-1]
            piece[-1] = (last_text.rstrip(), last_style)
        out.append(piece)
    return out


def _table(width: int, columns: tuple[str, ...], cells: list[tuple[str, ...]],
           colours: dict[str, Style]) -> list[Row] | None:
    """A DataTable as Textual draws it: each cell padded by one space each side, columns as
    wide as their widest text, rows across the whole width."""
    if not _plain(*columns, *(c for row in cells for c in row)) \
            or any(len(row) != len(columns) for row in cells):
        return None
    widths = [max(len(c) for c in column) for column in zip(columns, *cells, strict=True)]
    if sum(w + 2 for w in widths) >= width:
        return None  # Textual would scroll it sideways

    def line(texts: tuple[str, ...], style: Style) -> Row:
        text = "".join(f" {t.ljust(w)} " for t, w in zip(texts, widths, strict=True))
        return [(text.ljust(width), style)]

    out = [line(columns, colours["header"])]
    for n, row in enumerate(cells):
        out.append(line(row, colours["cursor" if n == 0 else "odd" if n % 2 else "even"]))
    return out


# --- to the terminal ----------------------------------------------------------------------------


def color_system(env: dict[str, str]) -> str | None:
    """The colour system Textual's console detects (Rich's rules): truecolor, 256, standard,
    or None for a terminal without colour."""
    if env.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
        return "truecolor"
    term = env.get("TERM", "").strip().lower()
    if term in ("dumb", "unknown"):
        return None
    return {"kitty": "256", "256color": "256"}.get(term.rpartition("-")[2], "standard")


def encode(rows: list[Row], system: str | None, monochrome: bool) -> str:
    """The frame as escape sequences, each row placed by a cursor move. ``monochrome``: the
    greys Textual shows under ``NO_COLOR``."""
    from rich.color import Color, ColorSystem

    systems = {"truecolor": ColorSystem.TRUECOLOR, "256": ColorSystem.EIGHT_BIT,
               "standard": ColorSystem.STANDARD}
    codes: dict[Style, str] = {}

    def sgr(style: Style) -> str:
        if style not in codes:
            if system is None:
                codes[style] = "\x1b[0m"  # Rich writes no attributes at all without colour
                return codes[style]
            parts = ["0", *(["1"] if style.bold else [])]
            for rgb, foreground in ((style.fg, True), (style.bg, False)):
                if rgb is None:
                    continue
                if monochrome:
                    grey = round(rgb[0] * 0.2126 + rgb[1] * 0.7152 + rgb[2] * 0.0722)
                    rgb = (grey, grey, grey)
                colour = Color.from_rgb(*rgb).downgrade(systems[system])
                parts += colour.get_ansi_codes(foreground)
            codes[style] = f"\x1b[{';'.join(parts)}m"
        return codes[style]

    out = []
    for y, row in enumerate(rows):
        out.append(f"\x1b[{y + 1};1H")
        out += [sgr(style) + text for text, style in row if text]
    out.append("\x1b[0m")
    return "".join(out)


class PrePaint:
    """The painted frame and the terminal state it changed, until Textual takes them over
    (``tui.handover``) or, if the app never starts, until ``undo``."""

    def __init__(self, fd: int, saved: list[Any]) -> None:
        self.fd = fd
        self.saved = saved  # the terminal's modes before: Textual restores these at exit
        self.handed_over = False

    def undo(self) -> None:
        """Leave the terminal as it was: the app did not start (or is gone)."""
        import termios

        try:
            if not self.handed_over:
                os.write(self.fd, b"\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l")
            termios.tcsetattr(0, termios.TCSANOW, self.saved)
        except (OSError, termios.error):
            pass  # the terminal is gone


def textual_size(env: dict[str, str], width: int, height: int) -> tuple[int, int]:
    """The size Textual lays its first frame out for, on a terminal of width x height: it asks
    ``shutil.get_terminal_size()``, where $COLUMNS and $LINES, when set to a positive number,
    come before the terminal's own size (a shell with ``checkwinsize`` exports the size it saw
    after its last command, which may be older than the terminal's)."""

    def given(name: str, otherwise: int) -> int:
        try:
            value = int(env.get(name, "0"))
        except ValueError:
            return otherwise
        return value if value > 0 else otherwise

    return given("COLUMNS", width), given("LINES", height)


def paint(target: str | None, api: str, prefetch: Prefetch,
          env: dict[str, str] | None = None) -> PrePaint | None:
    """Paint the first frame on the terminal (stderr, where Textual draws) if it can be drawn
    exactly; the PrePaint to hand over, or None (nothing was written)."""
    env = dict(os.environ) if env is None else env
    try:
        import termios
    except ImportError:  # not a POSIX terminal: Textual starts as before
        return None
    fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else -1
    if not target or fd < 0 or not os.isatty(fd) or not os.isatty(0) \
            or any(k in env for k in TEXTUAL_LOOKS):
        return None
    try:
        width, height = os.get_terminal_size(fd)
    except OSError:
        return None
    if textual_size(env, width, height) != (width, height):
        return None  # Textual would lay out another size than the terminal's: paint nothing
    answer = prefetch.peek(answer_wait(env))
    body = _body_of(str(prefetch.path), answer) if answer is not None else None
    rows = frame(width, height, target, api, body)
    if rows is None:
        return None
    try:
        saved = termios.tcgetattr(0)
        quiet = termios.tcgetattr(0)
        # Keys typed from now on wait for the app, unechoed; Ctrl-C still interrupts.
        quiet[3] &= ~(termios.ECHO | termios.ICANON)
        termios.tcsetattr(0, termios.TCSANOW, quiet)
    except termios.error:
        return None
    text = "\x1b[?1049h\x1b[?25l\x1b[?7l" + encode(rows, color_system(env), "NO_COLOR" in env)
    data = text.encode()
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        termios.tcsetattr(0, termios.TCSANOW, saved)
        return None
    return PrePaint(fd, saved)


def answer_wait(env: dict[str, str]) -> float:
    raw = env.get("PLAT_TUI_ANSWER_WAIT")
    if raw is None:
        return ANSWER_WAIT
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT:  # nan too
        print(f"plat: ignoring PLAT_TUI_ANSWER_WAIT={raw[:40]!r}: not a number of seconds from 0 "
              f"to {MAX_WAIT:g}; waiting {ANSWER_WAIT:g}s", file=sys.stderr)
        return ANSWER_WAIT
    return wait


def _body_of(path: str, answer: tuple[bool, Any]) -> StatusRows | tuple[str, str]:
    """What the Status panel will show of the prefetched answer (``StatusPanel.watch_target``):
    its rows, or the error it says."""
    from platd.spec.errors import PlatError
    from tui.answers import read
    from tui.render.connection import pane_retrying
    from tui.render.status import status_rows

    ok, value = answer
    try:
        if not ok:
            raise value
        return read(f"GET {path}", value, status_rows)
    except PlatError as e:
        return pane_retrying(e)
