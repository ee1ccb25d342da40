"""One command runner for every front end: a command line in, its handler run against a Ctx.

The CLI (``tui/cli/main.py``, with a ``TerminalCtx``), the TUI's palette (``PaneCtx``) and the
web console (a ``TranscriptCtx`` writing to its transcript) all run ``plat`` commands here, so
a command parses, runs and fails the same way, with the same words, wherever it is typed. The
front end's ``Ctx`` carries everything outside the handler: where output goes, who answers a
question, which daemon and token (``Settings``, injected, never read from globals here), and
how the command is cancelled.

Standard library only, and no Textual: the CLI starts here on every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from platd import __version__
from platd.spec.errors import EXIT_CODES, PlatError
from tui.cli.options import PARSER_OUTPUT, ParserExit, PlatParser, target_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/cli.md, start-up)
if TYPE_CHECKING:
    from typing import Any

    from tui.cli.context import Ctx

EPILOG = "exit codes:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())
CANCELLED = 130  # the exit code of a command stopped by its front end, as by Ctrl-C

# Which module registers each command. With a known command, only its module is imported and
# only its parsers are built: building every subcommand's parser costs more than a round trip
# to platd (25 ms of a 45 ms start). A command missing here still works, through the full
# parser; tests/cli/test_command_modules.py keeps this table equal to what the modules register.
COMMAND_MODULES = {
    "login": "auth", "logout": "auth", "whoami": "auth", "tokens": "auth",
    "orgs": "tree", "projects": "tree", "apps": "tree", "envs": "tree", "use": "tree",
    "config": "config", "secrets": "config", "manifest": "manifest", "init": "manifest",
    "deploy": "deploy", "wait": "wait", "releases": "releases", "rollback": "releases",
    "scale": "scale",
    "status": "observe", "describe": "observe", "events": "observe",
    "instances": "exec", "exec": "exec",
    "logs": "logs",
    "volumes": "volumes",
    "endpoints": "endpoints", "exposed": "endpoints",
    "hosts": "hosts",
    "members": "members",
}
ALL_MODULES = tuple(dict.fromkeys(COMMAND_MODULES.values()))


def build_parser(modules: tuple[str, ...] = ALL_MODULES, only: str | None = None, *,
                 names_only: bool = False) -> argparse.ArgumentParser:
    """The parser with the commands of ``modules`` (all of them for ``plat --help``); with
    ``only``, a command of theirs, only that command's parser is built: the other commands a
    module registers are skipped (``_OneCommand``), as a command line naming ``only`` never
    reaches their parsers. ``names_only``: every command is named with its help line, and
    none of their parsers is built (``_NamesOnly``): all the top-level help shows."""
    parser = PlatParser(
        prog="plat", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run containers on small clusters of edge hosts. Without a command, opens "
        "the full-screen TUI.",
    )
    parser.add_argument("--version", action="version", version=f"plat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = target_options()
    registrar: Any = _NamesOnly(sub) if names_only else \
        sub if only is None else _OneCommand(sub, only)
    for name in modules:
        # __import__ rather than importlib, which would be one more module on every start
        __import__(f"tui.cli.commands.{name}")
        sys.modules[f"tui.cli.commands.{name}"].register(registrar, common)
    sub.add_parser("daemon", help="run platd (the same program): plat daemon init|serve ...",
                   add_help=False)
    return parser


class _OneCommand:
    """A module's view of the subcommands while only ``command`` is wanted: its parser is
    built as usual, every other ``add_parser`` gets ``_Skipped``. Building the parsers a
    module does not need costs more than importing it (measured on ``plat releases`` when its
    module also registered seven other commands)."""

    def __init__(self, sub: Any, command: str) -> None:
        self._sub = sub
        self._command = command

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        return self._sub.add_parser(name, **kwargs) if name == self._command else _SKIPPED


class _NamesOnly:
    """The subcommands as the top-level help lists them: each name with its help line, its
    parser left empty (``_Skipped`` takes its arguments). Building every command's parser was
    most of what ``plat --help`` cost after the imports."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        listed = {k: kwargs[k] for k in ("help", "aliases") if k in kwargs}
        self._sub.add_parser(name, add_help=False, **listed)
        return _SKIPPED


class _Skipped:
    """Takes every call a command's registration makes on a parser (add_argument,
    add_argument_group, add_subparsers, set_defaults...) and drops it; returns itself, so the
    chained calls (a group's arguments, nested subcommands) are dropped too."""

    def __getattr__(self, name: str) -> Any:
        return self._drop

    def _drop(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


_SKIPPED = _Skipped()


def split(line: str | Sequence[str]) -> list[str]:
    """The words of a command line: a list as it is, a string split as a shell would (a
    leading ``plat`` is dropped). A string a shell could not split is ``InvalidInput``."""
    if not isinstance(line, str):
        return list(line)
    import shlex

    from platd.spec.errors import InvalidInput

    try:
        words = shlex.split(line)
    except ValueError as e:
        raise InvalidInput(f"cannot read the command: {e}") from None
    return words[1:] if words[:1] == ["plat"] else words


def parse(words: Sequence[str], ctx: Ctx | None = None) -> argparse.Namespace:
    """``words`` parsed by the parser of their command (only its module is imported).

    With ``ctx``, what argparse says (help, a usage error) goes to it and argparse's exit is
    raised as ``ParserExit(code)``. Without, argparse prints to this process's stdout and
    stderr and exits it, which is what the CLI wants of it.
    """
    command = words[0] if words else ""
    module = COMMAND_MODULES.get(command)
    # A command line starting with an option (--help) or nothing: the top-level help or a
    # usage error, which name the commands and show none of their options. An unknown word:
    # the whole parser, for argparse's suggestions (and a command COMMAND_MODULES misses).
    if module:
        parser = build_parser((module,), only=command)
    else:
        parser = build_parser(names_only=not command or command.startswith("-"))
    if ctx is None:
        args = parser.parse_args(list(words))
    else:
        token = PARSER_OUTPUT.set(ctx)
        try:
            args = parser.parse_args(list(words))
        finally:
            PARSER_OUTPUT.reset(token)
    if not getattr(args, "handler", None):
        # No command (or one that only groups others, like `plat daemon` here): the help, of
        # every command.
        if module:
            parser = build_parser(names_only=True)
        if ctx is None:
            parser.print_help()
        else:
            ctx.line(parser.format_help().rstrip("\n"))
        raise ParserExit(2)
    return args


def execute(args: argparse.Namespace, ctx: Ctx) -> int:
    """Run a parsed command's handler with ``ctx``; its exit code. An error is said through
    ``ctx`` (``tui.render.errors.error_lines``) and becomes the error's exit code."""
    from tui.follow import Cancelled

    ctx.args = args
    try:
        return int(args.handler(ctx))
    except PlatError as e:
        from tui.render.errors import error_lines

        for line in error_lines(e, as_json=ctx.json):
            ctx.note(line)
        return e.exit_code
    except Cancelled:
        return CANCELLED


def run(line: str | Sequence[str], ctx: Ctx) -> int:
    """Parse ``line`` and run its command with ``ctx``: the exit code, everything said through
    ``ctx`` (argparse's help and usage errors included)."""
    try:
        words = split(line)
        args = parse(words, ctx)
    except ParserExit as e:
        return e.code
    except PlatError as e:
        from tui.render.errors import error_lines

        for text in error_lines(e):
            ctx.note(text)
        return e.exit_code
    return execute(args, ctx)
