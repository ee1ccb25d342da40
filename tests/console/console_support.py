"""What the console's browser tests share: a real platd (fake runtime) with people made through
real invites, Chromium driven by Playwright, and reading the terminal through ghostty-web's
buffer API (the xterm.js one) rather than pixels."""

from __future__ import annotations

import time
from typing import Any

from browser_support import CHROMIUM, chromium  # tests/people (conftest.py puts it on the path)
from people_support import PASSWORD, make_user

__all__ = ["CHROMIUM", "PASSWORD", "chromium", "make_user"]

SCREEN = """() => {
  const b = window.platConsole.term.buffer.active;
  const out = [];
  for (let i = 0; i < b.length; i++) {
    const line = b.getLine(i);
    if (line) out.push(line.translateToString(true));
  }
  return out.join('\\n').replace(/\\n+$/, '');
}"""


# The same, with a line the terminal wrapped at its width joined back to the one before it
# (``isWrapped``, as in xterm.js): a long command line reads as typed.
UNWRAPPED = """() => {
  const b = window.platConsole.term.buffer.active;
  const out = [];
  for (let i = 0; i < b.length; i++) {
    const line = b.getLine(i);
    if (!line) continue;
    const next = b.getLine(i + 1);
    const text = line.translateToString(!(next && next.isWrapped));  // a wrap keeps its spaces
    if (line.isWrapped && out.length) out[out.length - 1] += text; else out.push(text);
  }
  return out.join('\\n').replace(/\\n+$/, '');
}"""


def sign_in(page: Any, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/console")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    wait_ready(page)


def wait_ready(page: Any, timeout: float = 20) -> None:
    page.wait_for_function("() => window.platConsole && window.platConsole.state.ready",
                           timeout=timeout * 1000)


def screen(page: Any, unwrap: bool = False) -> str:
    return str(page.evaluate(UNWRAPPED if unwrap else SCREEN))


def run(page: Any, line: str, timeout: float = 30) -> str:
    """Type ``line`` and Enter; the screen once its block has ended (a new prompt)."""
    wait_ready(page)
    before = screen(page).count("[exit ")
    page.keyboard.type(line)
    page.keyboard.press("Enter")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(page)
        if text.count("[exit ") > before and page.evaluate(
                "() => window.platConsole.state.ready"):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{line!r} did not finish:\n{screen(page)}")
