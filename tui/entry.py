"""The ``plat`` program: bare, the full-screen TUI; with a command, the plain CLI.

The one place that knows both front ends, so that neither imports the other: the TUI runs
commands through the CLI's runner (``tui.cli.runner``), and the CLI never imports the TUI.
Only the front end chosen is imported (Textual for the TUI alone, and only after its first frame
is on the screen: ``tui/prepaint.py``).
"""

from __future__ import annotations

import gc
import os
import sys


def run() -> None:
    """The ``plat`` console script: ``main``, then the process ends at once.

    By then the command has cleaned up after itself (terminal modes restored, files closed) and
    its output is flushed here; what Python would still do on its way out is tear down every
    module the command imported (``websockets`` alone brings a hundred), which the person at
    the prompt would wait for. ``plat daemon`` exits the usual way, so platd's own exit
    handlers run.
    """
    argv = sys.argv[1:]
    if argv[:1] not in ([], ["daemon"]):
        # The CLI's start-up (imports, the command's parser) makes objects that live as long
        # as the process: the cyclic garbage collector, which runs a dozen times meanwhile,
        # would find nothing to free. tui.cli.main resumes it once the command line is parsed.
        gc.disable()
    code = main(argv)
    if argv[:1] == ["daemon"]:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        # Not contextlib.suppress: importing contextlib is a tenth of `plat --version`.
        try:  # noqa: SIM105
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader gone away, a stream already closed: nothing left to say to them
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        return tui()
    if argv == ["--version"]:  # before the CLI's modules (argparse) are imported: scripts ask often
        from platd import __version__

        print(f"plat {__version__}")
        return 0
    from tui.cli.main import main as cli_main

    return cli_main(argv)


def tui() -> int:
    from tui.cli.settings import FileSettings

    stored = FileSettings()
    if not stored.api:
        from tui.render.errors import error_lines, no_daemon

        e = no_daemon(first_time=True)
        print("\n".join(error_lines(e)), file=sys.stderr)
        return e.exit_code
    # platd is asked for the first screen's data at once; its answer is painted before Textual
    # is imported (the import alone takes longer than the answer), and the app takes it over.
    from tui.prepaint import paint
    from tui.tui_client import Prefetch

    painted = None
    try:
        prefetch = Prefetch(stored.api, stored.token, stored.default_target)
        painted = paint(stored.default_target, str(stored.api), prefetch)
        from tui.app import run_tui

        return run_tui(stored, prefetch, painted)
    except KeyboardInterrupt:
        return 130  # Ctrl-C before the app had the keyboard (while Textual was imported)
    finally:
        if painted is not None:
            painted.undo()  # the terminal as it was, whether or not the app started


if __name__ == "__main__":
    run()
