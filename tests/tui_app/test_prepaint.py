"""The frame bare ``plat`` paints before Textual is imported is the app's own first frame.

tmux runs the installed ``plat`` against a real platd (fake runtime, a deployed env) and
``pipe-pane`` records every byte it writes. A terminal emulator (pyte) replays the record: the
screen just before Textual's first byte (the pre-painted frame) must equal, cell by cell (text,
background, and colour and weight of every visible character), the screen once Textual's first
full frame is drawn over it. Then nothing moves or changes colour when Textual takes over. In
colour systems Textual chooses from the environment (256 colours, truecolor, 16 colours,
NO_COLOR), with platd unreachable, and a terminal too small for the frame (nothing is painted).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest

from tests.conftest import PLAT, Daemon, free_port
from tests.tui_app.conftest import TARGET
from tests.tui_app.tmux_support import TmuxWindow

pytestmark = pytest.mark.slow

MOUSE_ON = "\x1b[?1000h"  # the first thing Textual's driver writes; the pre-paint never does
CURSOR_MOVE = re.compile(r"\x1b\[\d+;\d+H")
Cell = tuple[str, str, str, bool]


class Recorded(TmuxWindow):
    """``plat`` in a tmux window of its own, every byte it writes recorded."""

    def __init__(self, tmp: Path, size: tuple[int, int], env: dict[str, str]) -> None:
        self.size = size
        self.log = tmp / f"out-{time.monotonic_ns()}.bin"
        go = tmp / f"go-{time.monotonic_ns()}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # plat starts only once the recording does. The shell's $LINES and $COLUMNS (bash's
        # checkwinsize sets them after each sleep, maybe before tmux sized the pane) are not
        # passed on: the terminal's size decides, unless a test gives them.
        command = (f"while [ ! -e {go} ]; do sleep 0.02; done; "
                   f"exec env -u LINES -u COLUMNS {exports} {PLAT}")
        super().__init__(f"plat-prepaint-{os.getpid()}-{time.monotonic_ns()}", command, size)
        self.run("pipe-pane", "-t", "0", f"cat > {shlex.quote(str(self.log))}")
        go.touch()

    def frames(self) -> tuple[list[list[Cell]], list[list[Cell]]]:
        """(the screen before Textual's first byte, the screen after Textual's first full
        frame). Called once the screen shows a later frame: the record, which tmux writes
        asynchronously, has it too or soon will."""
        width, height = self.size
        deadline = time.monotonic() + 30
        seen, still_since = "", time.monotonic()
        while True:
            data = self.log.read_bytes().decode("utf-8", "replace")
            if data != seen:
                seen, still_since = data, time.monotonic()
            mark = data.find(MOUSE_ON)
            last_row = data.find(f"\x1b[{height};1H", mark) if mark >= 0 else -1
            after = CURSOR_MOVE.search(data, last_row + 1) if last_row >= 0 else None
            # On a busy machine the first frame may be the last write for a while (the footer
            # drawn in it): once the record holds still for a second, it ends the frame.
            end = after.start() if after is not None else (
                len(data) if last_row >= 0 and time.monotonic() - still_since > 1.0 else None)
            if end is not None:
                return replay(data[:mark], width, height), replay(data[:end], width, height)
            assert time.monotonic() < deadline, f"no first frame of Textual in {data[-2000:]!r}"
            time.sleep(0.1)


def replay(data: str, width: int, height: int) -> list[list[Cell]]:
    screen = pyte.Screen(width, height)
    pyte.Stream(screen).feed(data)
    # What a person sees of a cell: its character and background, and the colour and weight of
    # a visible character (a space shows neither).
    return [[(c.data, c.bg, c.fg if c.data.strip() else "", c.bold and bool(c.data.strip()))
             for c in (screen.buffer[y][x] for x in range(width))] for y in range(height)]


def text(cells: list[list[Cell]]) -> str:
    return "\n".join("".join(c[0] for c in row).rstrip() for row in cells)


def differences(pre: list[list[Cell]], first: list[list[Cell]]) -> str:
    out = []
    for y, (a, b) in enumerate(zip(pre, first, strict=True)):
        if a != b:
            x = next(x for x in range(len(a)) if a[x] != b[x])
            out.append(f"row {y}, from column {x}:\n  painted {''.join(c[0] for c in a)!r} "
                       f"{a[x]}\n  Textual {''.join(c[0] for c in b)!r} {b[x]}")
    return "\n".join(out)


@pytest.fixture
def plat_in_tmux(tui_daemon: Daemon, tmp_path: Path) -> Iterator[Callable[..., Recorded]]:
    started: list[Recorded] = []

    def start(size: tuple[int, int], **env: str) -> Recorded:
        base = {k: v for k, v in tui_daemon.env(PLAT_TARGET=TARGET).items()
                if k.startswith(("PLAT_", "PATH", "HOME", "LANG"))}
        # platd's answer is painted however busy the machine is (the default waits 0.3 s)
        base.update(TERM="xterm-256color", PLAT_TUI_ANSWER_WAIT="30")
        recorded = Recorded(tmp_path, size, {**base, **env})
        started.append(recorded)
        return recorded

    yield start
    for recorded in started:
        recorded.close()


def textual_is_up(screen: str) -> bool:
    return "Commands" in screen  # the footer's keys come a refresh after the first frame


@pytest.mark.parametrize(("size", "env"), [
    ((120, 40), {}),
    ((100, 30), {"COLORTERM": "truecolor"}),
    ((90, 26), {"TERM": "xterm"}),
    ((120, 40), {"NO_COLOR": "1"}),
], ids=["256-colours", "truecolor", "16-colours", "no-color"])
def test_painted_frame_is_textuals_first_frame(plat_in_tmux: Callable[..., Recorded],
                                               size: tuple[int, int],
                                               env: dict[str, str]) -> None:
    plat = plat_in_tmux(size, **env)
    plat.wait(textual_is_up, "the app's footer")
    pre, first = plat.frames()
    painted = text(pre)
    assert f"plat — {TARGET}" in painted
    assert "INSTANCE" in painted  # the instance rows, before Textual
    assert "healthy" in painted
    assert pre == first, differences(pre, first)


def test_platd_unreachable_is_painted_as_the_panel_says_it(
        plat_in_tmux: Callable[..., Recorded]) -> None:
    plat = plat_in_tmux((120, 40), PLAT_API=f"http://127.0.0.1:{free_port()}")
    plat.wait(textual_is_up, "the app's footer")
    pre, first = plat.frames()
    assert "cannot reach platd" in text(pre)
    assert pre == first, differences(pre, first)


def test_too_small_a_terminal_gets_no_painted_frame(
        plat_in_tmux: Callable[..., Recorded]) -> None:
    plat = plat_in_tmux((40, 12))
    plat.wait(lambda screen: "Status" in screen, "the app")
    pre, _ = plat.frames()
    assert text(pre).strip() == ""  # Textual draws the first frame itself, as before


def test_a_size_in_the_environment_other_than_the_terminals_gets_no_painted_frame(
        plat_in_tmux: Callable[..., Recorded]) -> None:
    """Textual lays out for $COLUMNS x $LINES when they are set; a frame painted for the
    terminal's own size would be redrawn at another, so none is painted."""
    plat = plat_in_tmux((120, 40), COLUMNS="80", LINES="24")
    plat.wait(textual_is_up, "the app's footer")
    data = plat.log.read_bytes().decode("utf-8", "replace")
    assert MOUSE_ON in data
    assert text(replay(data[:data.find(MOUSE_ON)], 120, 40)).strip() == ""


def test_a_key_typed_while_the_frame_shows_reaches_the_app(
        plat_in_tmux: Callable[..., Recorded]) -> None:
    plat = plat_in_tmux((120, 40))
    plat.wait(lambda screen: "healthy" in screen, "the instance rows")
    plat.keys("3")  # the Events tab, typed as early as a person could
    plat.wait(lambda screen: textual_is_up(screen) and "INSTANCE" not in screen,
                       "the Events tab")


def test_ctrl_c_before_the_app_is_up_ends_plat_quietly(tui_daemon: Daemon,
                                                      tmp_path: Path) -> None:
    """Ctrl-C while bare ``plat`` still waits for its first answer (or imports Textual) ends it
    with 130 and the terminal as it was: no traceback."""
    with socket.socket() as silent:  # accepts plat's request and never answers it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {k: v for k, v in tui_daemon.env(PLAT_TARGET=TARGET).items()
               if k.startswith(("PLAT_", "PATH", "HOME", "LANG"))}
        env.update(TERM="xterm-256color", PLAT_TUI_ANSWER_WAIT="30",
                   PLAT_API=f"http://127.0.0.1:{silent.getsockname()[1]}")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        term = TmuxWindow(f"plat-ctrlc-{os.getpid()}-{time.monotonic_ns()}",
                          f"env {exports} {PLAT} 2>&1; echo plat-ended-$?; sleep 60", (120, 40))
        try:
            silent.settimeout(60)
            conn, _ = silent.accept()  # plat has asked and now waits for the answer
            term.keys("C-c")
            screen = term.wait(lambda screen: "plat-ended-" in screen, "plat's end")
            conn.close()
        finally:
            term.close()
    assert "plat-ended-130" in screen, screen
    assert "Traceback" not in screen
