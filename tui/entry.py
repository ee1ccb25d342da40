"""The ``plat`` program: bare, the full-screen TUI; with a command, the plain CLI.

The one place that knows both front ends, so that neither imports the other: the TUI runs
commands through the CLI's runner (``tui.cli.runner``), and the CLI never imports the TUI.
Only the front end chosen is imported (Textual for the TUI alone).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        return tui()
    from tui.cli.main import main as cli_main

    return cli_main(argv)


def tui() -> int:
    from tui.cli.settings import FileSettings

    stored = FileSettings()
    if not stored.api:
        from tui.render import error_lines, no_daemon

        e = no_daemon(first_time=True)
        print("\n".join(error_lines(e)), file=sys.stderr)
        return e.exit_code
    # platd is asked for the first screen's data while Textual loads.
    from tui.tui_client import Prefetch

    prefetch = Prefetch(stored.api, stored.token, stored.default_target)
    from tui.app import run_tui

    return run_tui(stored, prefetch)


if __name__ == "__main__":
    sys.exit(main())
