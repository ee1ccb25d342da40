"""The console's line editor in a real browser: the keys a shell's line editor takes move the
cursor and edit the line anywhere in it, and the line that runs is the one shown.

Chromium (Debian's, through Playwright) types real key presses into ghostty-web; the screen and
the cursor are read through its xterm.js-compatible buffer API; what ran is read from the
command's block (its ``$ LINE`` header and output), on a real platd (fake runtime).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import CHROMIUM, chromium, make_user, run, screen, sign_in
from daemon_support import Daemon, stop_daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian's chromium (scripts/setup installs it)"),
]

# The cursor's row is counted from the screen's top: its line in the buffer is after the
# scrollback (length - rows; ghostty-web's baseY is always 0, xterm.js's is that number).
CURSOR = """() => {
  const term = window.platConsole.term, b = term.buffer.active;
  const line = b.getLine(b.length - term.rows + b.cursorY);
  return [line ? line.translateToString(true) : '', b.cursorX];
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-editing")
    d = Daemon(data=tmp / "data", config_dir=tmp / "config")
    d.init()
    d.start()
    try:
        d.make_env("acme/shop/hello/prod")
        make_user(d, "acme", "alice", "owner")
        with chromium() as browser:
            page = browser.new_context(viewport={"width": 1100, "height": 640}).new_page()
            sign_in(page, d.url, "alice")
            yield page
    finally:
        stop_daemon(d)


def _keys(page: Any, *keys: str) -> None:
    for key in keys:
        if len(key) > 1 and key[0].isupper():  # a key's name: Home, ArrowLeft, Control+w
            page.keyboard.press(key)
        else:
            page.keyboard.type(key)


def _prompt(page: Any) -> tuple[str, int]:
    """The cursor's row and its column."""
    row, x = page.evaluate(CURSOR)
    return str(row), int(x)


def _last(text: str) -> str:
    """The command line of the transcript's last block."""
    before = text[:text.rindex("\n[exit ")]
    return before[before.rindex("$ "):].split("\n", 1)[0][2:]


def test_left_right_home_end_insert_in_the_middle(page: Any) -> None:
    _keys(page, "rgs lst", "Home")
    assert _prompt(page) == ("$ rgs lst", 2)  # the cursor is after the prompt, on the line
    _keys(page, "o", "End", "ArrowLeft", "ArrowLeft")
    assert _prompt(page) == ("$ orgs lst", 8)
    _keys(page, "i")
    assert _prompt(page) == ("$ orgs list", 9)  # inserted, the rest of the line moved right
    _keys(page, "ArrowRight", "ArrowRight", "ArrowRight")  # not past the end
    assert _prompt(page) == ("$ orgs list", 11)
    text = run(page, "")
    assert _last(text) == "orgs list"
    assert "acme" in text.split("$ orgs list\n")[-1]


def test_delete_backspace_ctrl_keys_and_words_anywhere_in_the_line(page: Any) -> None:
    # Delete under the cursor at the start, Backspace in the middle, Ctrl-A/Ctrl-E.
    _keys(page, "xorgs lisst", "Control+a", "Delete", "Control+e", "ArrowLeft", "ArrowLeft",
          "Backspace")
    assert _prompt(page) == ("$ orgs list", 9)  # the second s went, the cursor before the t
    assert _last(run(page, "")) == "orgs list"
    # Ctrl-W takes the word before the cursor, in the middle of the line.
    _keys(page, "orgs junk list", "Control+ArrowLeft", "Control+w")
    assert _prompt(page) == ("$ orgs list", 7)
    # Ctrl-K takes what follows the cursor; Ctrl-U what precedes it.
    _keys(page, "Control+e", " --json extra", "Control+ArrowLeft", "ArrowLeft", "Control+k")
    assert _prompt(page)[0] == "$ orgs list --json"
    assert _last(run(page, "")) == "orgs list --json"
    _keys(page, "stale words status", "Control+ArrowLeft", "Control+u")
    assert _prompt(page) == ("$ status", 2)
    _keys(page, "Control+k", "help")
    assert _prompt(page) == ("$ help", 6)
    assert _last(run(page, "")) == "help"


def test_history_walks_back_and_keeps_the_line_being_typed(page: Any) -> None:
    run(page, "orgs list")
    run(page, "help")
    _keys(page, "draft")
    _keys(page, "ArrowUp")
    assert _prompt(page)[0] == "$ help"
    _keys(page, "ArrowUp")
    assert _prompt(page)[0] == "$ orgs list"
    _keys(page, "ArrowDown", "ArrowDown")
    assert _prompt(page) == ("$ draft", 7)  # back to what was being typed
    # A recalled line is edited like any other before it runs.
    _keys(page, "Control+u", "ArrowUp", "ArrowUp", "Home", "Control+k", "orgs list")
    assert _prompt(page) == ("$ orgs list", 11)
    assert _last(run(page, "")) == "orgs list"


def test_a_line_longer_than_the_terminal_is_edited_in_place(page: Any) -> None:
    cols = page.evaluate("() => window.platConsole.term.cols")
    word = "x" * (cols + 10)  # wraps onto a second row
    _keys(page, f"ash {word}", "Home", "b")
    assert _prompt(page)[1] == 3  # on the prompt's row, after "$ b"
    _keys(page, "End")
    row, x = _prompt(page)
    assert row == "x" * ((2 + 5 + len(word)) - cols)
    assert x == len(row)
    run(page, "")
    text = screen(page, unwrap=True)
    # The whole line ran as typed (and was refused: bash is not plat), shown once, not smeared.
    assert _last(text) == f"bash {word}"
    assert text.count(f"bash {word[:20]}") == 1
    assert "'bash' is not a plat command" in text
