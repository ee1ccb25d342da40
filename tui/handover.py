"""Textual's terminal driver, taking over the frame bare ``plat`` painted before Textual was
imported (``tui/prepaint.py``).

Two things of Textual's start would undo what the painted frame did, and are skipped once: its
switch to the alternate screen (already there; some terminals clear the screen on a second
switch, which would flash blank until the app's first frame), and its reading of the terminal's
modes to restore at exit (the pre-paint already turned echo and line editing off; the modes to
restore are the ones from before it).
"""

from __future__ import annotations

from textual.drivers.linux_driver import LinuxDriver

from tui.prepaint import PrePaint

ALT_SCREEN = "\x1b[?1049h"


def handover_driver(painted: PrePaint) -> type[LinuxDriver]:
    class HandOver(LinuxDriver):
        _taking_over = True

        def write(self, data: str) -> None:
            if self._taking_over and data == ALT_SCREEN:
                return
            super().write(data)

        def start_application_mode(self) -> None:
            super().start_application_mode()  # type: ignore[no-untyped-call]
            if self._taking_over:
                self._taking_over = False  # a resume after Ctrl-Z starts as Textual does
                self.attrs_before = painted.saved
                painted.handed_over = True

    return HandOver
