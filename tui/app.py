"""Entry point of the full-screen TUI (bare ``plat``)."""

from __future__ import annotations

import sys


def run_tui() -> int:
    print("the full-screen TUI is not part of this build yet; see `plat --help` for the commands",
          file=sys.stderr)
    return 2
