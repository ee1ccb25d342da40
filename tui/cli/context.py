"""What a command handler gets: the ``Ctx`` protocol, and the part every front end shares.

A handler (``tui/cli/commands/*``) takes one ``Ctx`` and reaches the world only through it: its
parsed arguments, the daemon client, the target env, the settings, and every way of saying
something or asking a person. It never prints, never reads a terminal and never reads the
config file itself, so any front end can run it: the CLI on a terminal (``TerminalCtx``), the
TUI's palette (``palette.PaneCtx``), a transcript for the web console or a test
(``TranscriptCtx``). ``tui/cli/runner.py`` parses a command line and runs its handler with one.

A front end subclasses ``BaseCtx`` and says where text goes (``write``), how a person answers
(``ask``, ``interactive``) and how an exec session meets a terminal (``attach``).
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Protocol

    from tui.cli.settings import Settings
    from tui.client import Client
    from tui.exec_session import SessionRequest
    from tui.follow import Cancel, Reconnect
else:
    Protocol = object  # at run time a plain base class: the protocol is the type checker's

OUT, ERR = "out", "err"  # the two streams a front end shows: results, and words beside them
RECONNECT_FOR = 60.0  # seconds without an answer before a follow gives up


class Ctx(Protocol):
    """The one face of a front end that command handlers see.

    Output, in four kinds (a front end may show them apart; the CLI sends ``out`` and ``line``
    to stdout, ``note`` to stderr, and ``say`` to stdout, or to stderr under ``--json``):

    - ``out(data, lines)``: the command's result: ``data`` as JSON under ``--json``, else
      ``lines`` for people;
    - ``line(text)``: one more piece of a streamed result (an event, a page of log lines);
    - ``say(text)``: progress for people (the rollout's events while ``deploy`` follows it);
    - ``note(text)``: a remark beside the result: a lost connection, an error, a prompt's list.

    Input: ``ask(prompt)`` gets one answer from the person at this front end, or None when
    nobody can answer; ``interactive`` says beforehand whether someone can.
    """

    args: argparse.Namespace
    settings: Settings
    cancel: Cancel

    @property
    def json(self) -> bool:
        """``--json`` was given: results as JSON documents, progress off stdout."""

    @property
    def client(self) -> Client:
        """The daemon client for ``settings.api`` and ``settings.token`` (built on first use)."""

    def get(self, path: str, **query: Any) -> Any:
        """``client.get(path, **query)``; before the client is built, the request is sent
        first, so the daemon answers while the client's modules load (``tui.early_get``)."""

    @property
    def interactive(self) -> bool:
        """A person reads this front end's notes and can answer ``ask``."""

    @property
    def terminal_input(self) -> bool:
        """The command's input is a terminal, so an exec session may have a TTY."""

    def target(self) -> str:
        """ORG/PROJECT/APP/ENV from the arguments and the default target."""

    def out(self, data: Any, lines: list[str] | None = None) -> None: ...

    def line(self, text: str) -> None: ...

    def say(self, text: str) -> None: ...

    def note(self, text: str) -> None: ...

    def ask(self, prompt: str) -> str | None:
        """``prompt``, then one line typed by the person (without its end of line); None when
        nobody can answer (no terminal, end of input)."""

    def ask_secret(self, prompt: str) -> str | None:
        """Like ``ask``, without showing what is typed (a token); None when nobody can answer."""

    def read_input(self) -> str | None:
        """The command's piped input, whole (``plat login --token-stdin``); None when there is
        none to read (a terminal, or a front end without one)."""

    def attach(self, request: SessionRequest) -> int:
        """Run an exec session on this front end's terminal; the remote command's exit code."""

    def read_text(self, path: Path, what: str, limit: int, hint: str) -> str:
        """The text of the file the command line names (``-f plat.toml``), at most ``limit``
        bytes: from this machine's disk for the CLI, from the session's uploads for the web
        console, which never reads the host's disk. A refusal is ``InvalidInput``."""


class _Never:
    """The CLI is stopped by Ctrl-C, not cancelled from another thread."""

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        import time

        time.sleep(timeout or 0.0)
        return False


class BaseCtx:
    """What every front end's ``Ctx`` shares: the target, the client, the four kinds of output
    on one ``write(stream, text)``. Subclasses provide ``write`` and, if they can, ``ask`` and
    ``attach``. (A plain class, not a dataclass: importing dataclasses, and inspect with it,
    would cost every command 5 ms of start-up.)"""

    def __init__(self, settings: Settings, *, client: Client | None = None,
                 cancel: Cancel | None = None,
                 args: argparse.Namespace | None = None) -> None:
        self.args = args if args is not None else argparse.Namespace()
        self.settings = settings
        self.cancel: Cancel = cancel if cancel is not None else _Never()
        self._client = client

    # --- what a front end provides --------------------------------------------------------

    def write(self, stream: str, text: str) -> None:
        """Show ``text`` (whole lines, each ending in a newline) on ``stream``: OUT or ERR."""
        raise NotImplementedError

    @property
    def interactive(self) -> bool:
        return False

    @property
    def terminal_input(self) -> bool:
        return False

    def ask(self, prompt: str) -> str | None:
        return None

    def ask_secret(self, prompt: str) -> str | None:
        return None

    def read_input(self) -> str | None:
        return None

    def attach(self, request: SessionRequest) -> int:
        from tui.render.errors import no_exec_here

        raise no_exec_here()

    def read_text(self, path: Path, what: str, limit: int, hint: str) -> str:
        from tui.cli.files import read_text_file

        return read_text_file(path, what, limit, hint)

    # --- shared ---------------------------------------------------------------------------

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def client(self) -> Client:
        if self._client is None:
            from tui.client import Client
            from tui.render.errors import no_daemon

            api = self.settings.api
            if not api:
                raise no_daemon()
            self._client = Client(api, self.settings.token)
        return self._client

    def get(self, path: str, **query: Any) -> Any:
        if self._client is None and self.settings.api:
            from tui import early_get
            from tui.api_paths import with_query

            sent = early_get.send(self.settings.api, self.settings.token,
                                  with_query(path, query), early_get.DEFAULT_TIMEOUT)
            if sent is not None:
                self.client.adopt(sent)
        return self.client.get(path, **query)

    def target(self) -> str:
        """ORG/PROJECT/APP/ENV from --target, the single-level flags and the default target."""
        base = getattr(self.args, "target", None) or self.settings.default_target or ""
        parts = [p for p in base.strip("/").split("/") if p] if base else []
        parts += [""] * (4 - len(parts))
        for i, level in enumerate(("org", "project", "app", "env")):
            value = getattr(self.args, level, None)
            if value:
                parts[i] = value
        if not all(parts[:4]) or len(parts) > 4:
            raise InvalidInput(
                "no target env: plat needs ORG/PROJECT/APP/ENV for this command",
                hint=[
                    "set a default once: plat use ORG/PROJECT/APP/ENV",
                    "or pass --target ORG/PROJECT/APP/ENV (or --org/--project/--app/--env)",
                ],
            )
        return "/".join(parts[:4])

    def out(self, data: Any, lines: list[str] | None = None) -> None:
        """``data`` as JSON with --json, else the human ``lines``."""
        if self.json:
            import json  # here: plat --help imports this module and writes no JSON

            self.write(OUT, json.dumps(data, indent=2, sort_keys=True) + "\n")
        elif lines:
            self.write(OUT, "".join(line + "\n" for line in lines))

    def line(self, text: str) -> None:
        self.write(OUT, text + "\n")

    def say(self, text: str) -> None:
        """Progress for people: with the result normally, beside it under --json."""
        self.write(ERR if self.json else OUT, text + "\n")

    def note(self, text: str) -> None:
        self.write(ERR, text + "\n")


def reconnecting(ctx: Ctx, resume: str, *, until: float | None = None,
                 hint: list[str] | None = None) -> Reconnect:
    """How a command's follow rides out a lost connection: a note on losing it and one on
    getting it back (``resume`` completes "going on from ..."), and after the settings'
    reconnect timeout (``PLAT_RECONNECT_TIMEOUT``, default 60 s) ``DaemonUnreachable`` with
    ``hint`` added (how to pick up again). ``until`` ends the retries early (see ``Reconnect``).

    A timeout that is not a number of seconds above 0 is ignored with a note, not refused: by
    the time a follow starts, ``plat deploy`` has already created its release."""
    from tui.follow import Reconnect
    from tui.render import connection as words

    patience = RECONNECT_FOR
    raw = ctx.settings.reconnect_timeout
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if 0 < value < float("inf"):
            patience = value
        else:
            ctx.note(words.ignoring_reconnect_timeout(raw, RECONNECT_FOR))
    return Reconnect(
        patience=patience, until=until, cancel=ctx.cancel,
        on_lost=lambda exc: ctx.note(words.cli_connection_lost(exc.message)),
        on_back=lambda: ctx.note(words.cli_connection_back(resume)),
        give_up=lambda exc, waited: words.gave_up_reconnecting(exc, waited, hint or []),
    )
