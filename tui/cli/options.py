"""The parser class every ``plat`` parser uses, and options shared by many subcommands, as
argparse parent parsers."""

from __future__ import annotations

import argparse
import os
import sys
from contextvars import ContextVar

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, NoReturn

# Seconds deploy, wait and rollback follow a rollout by default before giving up (exit 9).
ROLLOUT_TIMEOUT = 300.0

_columns: int | None = None
# Where argparse's help and complaints go while a front end other than the CLI parses a command
# line (``tui.cli.runner.parse``): a ``BaseCtx``. A context variable, not a redirect of
# sys.stdout, so commands parsed at once in several threads (TUI workers, console sessions)
# each keep their own words.
PARSER_OUTPUT: ContextVar[Any] = ContextVar("plat_parser_output", default=None)


def _translate_once() -> None:
    """argparse has gettext translate each of its strings as parsers are built (60 times for
    `plat envs list`, 230 for `plat --help`), and each time gettext searches the locale
    directories for a catalogue anew (importing ``locale`` to normalise $LANG on the way): about
    a tenth of building a parser. The catalogue cannot change while plat runs, so it is looked
    up once, the way ``gettext.gettext`` would, and argparse uses that one. When gettext's
    search could find nothing (the language is C, or the locale directory does not exist)
    it is skipped, and the import of ``locale`` it makes (about a millisecond)."""
    import gettext

    domain = gettext.textdomain()
    localedir = gettext.bindtextdomain(domain)
    found = (gettext.translation(domain, localedir, fallback=True)
             if _may_have_catalogue(localedir) else gettext.NullTranslations())
    setattr(argparse, "_", found.gettext)  # noqa: B010  (argparse's stub does not declare them)
    setattr(argparse, "ngettext", found.ngettext)  # noqa: B010


def _may_have_catalogue(localedir: str | None) -> bool:
    """False where ``gettext.find`` looks for no file at all: its first language (from the
    variables it reads, in its order) is C or POSIX, or the directory is not there."""
    if localedir is None or not os.path.isdir(localedir):
        return False
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return value.split(":")[0] not in ("C", "POSIX")
    return False  # none set: gettext's language is C


_translate_once()


class ParserExit(Exception):
    """argparse finished the command line itself (help shown, or a usage error said)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PlatParser(argparse.ArgumentParser):
    """argparse's parser, minus one cost on every start: argparse makes a help formatter for
    each ``add_argument`` and each asks ``shutil`` for the terminal width (importing shutil,
    and with it bz2 and lzma, ~2 ms). The width is looked up once here, the same way.
    Subcommand parsers are of the same class (``add_subparsers`` uses the parent's)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        formatter: type[argparse.HelpFormatter] = self.formatter_class  # type: ignore[assignment]
        return formatter(prog=self.prog, width=terminal_columns() - 2)

    def _print_message(self, message: str, file: Any = None) -> None:
        ctx = PARSER_OUTPUT.get()
        if ctx is None:
            super()._print_message(message, file)
        elif message:
            text = message[:-1] if message.endswith("\n") else message
            (ctx.note if file is None or file is sys.stderr else ctx.line)(text)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if PARSER_OUTPUT.get() is None:
            super().exit(status, message)
        if message:
            self._print_message(message, sys.stderr)
        raise ParserExit(status)


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else stdout's terminal, else 80."""
    global _columns
    if _columns is None:
        try:
            _columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            _columns = 0
        if _columns <= 0:
            try:
                _columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                _columns = 0
        _columns = _columns or 80
    return _columns


def path_arg(text: str) -> Path:
    """argparse ``type`` for file arguments: pathlib is imported when one is parsed, not when
    the parser is built (``plat --help`` builds every parser)."""
    from pathlib import Path

    return Path(text)


def finite_float(text: str) -> float:
    """argparse ``type`` for numbers: "nan", "inf" and 1e999 are refused as usage errors
    (JSON cannot carry them, and no timeout or cpu count means them)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def json_options() -> argparse.ArgumentParser:
    parent = PlatParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parent


def target_options() -> argparse.ArgumentParser:
    """--json plus the target env: --target ORG/PROJECT/APP/ENV or one level at a time."""
    parent = json_options()
    scope = parent.add_argument_group("target (default: what `plat use` set)")
    scope.add_argument("--target", "-t", metavar="ORG/PROJECT/APP/ENV")
    scope.add_argument("--org")
    scope.add_argument("--project")
    scope.add_argument("--app")
    scope.add_argument("--env")
    return parent
