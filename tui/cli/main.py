"""``plat COMMAND``: the plain, scriptable CLI, one command per process.

The command runs through the runner every front end shares (``tui.cli.runner``), with a
``TerminalCtx``: results on stdout, notes and errors on stderr, questions on the terminal,
settings from the user's config file and the environment. What is the process's own stays
here: ``plat daemon`` (platd in the same program), argparse exiting the process on ``--help``
and usage errors, Ctrl-C and a reader that went away.

Start-up time is part of the product, so this module imports only the standard library and
``platd.spec``; each command's handler imports what it needs.
"""

from __future__ import annotations

import sys

from platd import __version__
from tui.cli.options import ParserExit
from tui.cli.runner import ALL_MODULES, COMMAND_MODULES, EPILOG, build_parser, execute, parse

__all__ = ["ALL_MODULES", "COMMAND_MODULES", "EPILOG", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "daemon":
        from platd.cli import main as daemon_main

        return daemon_main(argv[1:], prog="plat daemon")
    if argv == ["--version"]:  # answered before any parser is built: scripts call it often
        print(f"plat {__version__}")
        return 0
    try:
        args = parse(argv)
    except ParserExit as e:
        return e.code
    _resume_collector()
    from tui.cli.settings import FileSettings
    from tui.cli.terminal import TerminalCtx

    try:
        return execute(args, TerminalCtx(FileSettings()))
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away: stop quietly, without Python's complaint at exit.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        # A bug: the user gets one line and a way to see more, never a traceback by surprise.
        import os

        if os.environ.get("PLAT_DEBUG"):
            raise
        # Only the kind of error: its text could hold a value the user typed, a secret too.
        print(f"error: plat failed unexpectedly ({type(e).__name__})", file=sys.stderr)
        print("  this is a bug in plat; run the command again with PLAT_DEBUG=1 to see where "
              "it happened, and report it", file=sys.stderr)
        return 1


def _resume_collector() -> None:
    """The cyclic garbage collector back on for the command, if ``tui.entry`` paused it for the
    start-up; what the start-up made is frozen first (``gc.freeze``: modules, classes, the
    parser), so that no collection walks those objects again."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


if __name__ == "__main__":
    sys.exit(main())
