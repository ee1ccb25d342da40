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


def sign_in(page: Any, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/console")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    wait_ready(page)


def wait_ready(page: Any, timeout: float = 20) -> None:
    page.wait_for_function("() => window.platConsole && window.platConsole.state.ready",
                           timeout=timeout * 1000)


def screen(page: Any) -> str:
    return str(page.evaluate(SCREEN))


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
