"""How plat's own errors are said: a command's error and hints (or its wire form under --json),
no daemon to talk to, an answer this plat cannot read, a panel that stopped.

The error types live in ``platd.spec.errors``; this module decides only their words and the
hints that point to the next command.
"""

from __future__ import annotations

import json

from platd.spec.errors import InvalidInput, PlatError, Unauthenticated

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def error_lines(e: PlatError, as_json: bool = False) -> list[str]:
    """How a command's error is said: ``error: MESSAGE`` then indented hints (exact commands,
    mostly), or under --json the error's wire form on one line."""
    if as_json:
        return [json.dumps(e.to_wire(), sort_keys=True)]
    return [f"error: {e.message}", *(f"  {line}" for line in e.hint)]


def no_daemon(first_time: bool = False) -> Unauthenticated:
    """A command (or bare ``plat``) with no daemon URL stored or given."""
    if first_time:
        return Unauthenticated("plat does not know which daemon to talk to",
                               hint="log in first: plat login --api http://127.0.0.1:7400")
    return Unauthenticated(
        "plat does not know which daemon to talk to",
        hint="log in with: plat login --api http://127.0.0.1:7400 "
        "(or set PLAT_API and PLAT_TOKEN)",
    )


def no_exec_here() -> InvalidInput:
    """``plat exec`` run by a front end without a terminal to attach the session to."""
    return InvalidInput("this front end cannot open an exec session here",
                        hint="run plat exec in a shell, or press x in the TUI")


def unreadable_answer(what: str, data: Any, error: Exception) -> str:
    """platd answered ``what`` with a body this plat cannot read: empty, or of another shape
    (a platd of another version, or a fault)."""
    if data is None or data == "" or data == {} or data == []:
        return f"platd sent an empty answer to {what}"
    if isinstance(error, KeyError):
        return f"platd's answer to {what} has no {error.args[0]!r} in it"
    return f"platd's answer to {what} is not what this plat reads ({type(error).__name__})"


def command_unreadable(command: str, error: Exception) -> str:
    """A command run in the TUI stopped on an answer it could not read."""
    what = f"no {error.args[0]!r} in it" if isinstance(error, KeyError) else \
        type(error).__name__
    return (f"platd answered plat {command} with something this plat cannot read ({what}); "
            f"{UNREADABLE_HINT}")


UNREADABLE_HINT = ("platd and plat may be of different versions: compare plat --version with "
                   "platd --version")


def panel_failed(error: BaseException) -> str:
    """A TUI worker stopped on something unexpected; the app keeps running."""
    return f"a panel stopped on an unexpected error ({type(error).__name__}: {error}); " \
           "the rest of plat keeps running"
