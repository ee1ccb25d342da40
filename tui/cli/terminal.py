"""The CLI's front end: a ``Ctx`` on the process's own stdout, stderr and terminal.

Results go to stdout, notes and errors to stderr, each write flushed (a follow is read as it
comes); a question is answered on the terminal (``/dev/tty``, so piped input stays the
command's), and an exec session takes over this terminal (``tui.exec_session``).
"""

from __future__ import annotations

import sys

from tui.cli.context import OUT, BaseCtx

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import TextIO

    from tui.exec_session import SessionRequest


class TerminalCtx(BaseCtx):
    def write(self, stream: str, text: str) -> None:
        f = sys.stdout if stream == OUT else sys.stderr
        f.write(text)
        f.flush()

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stderr.isatty()

    @property
    def terminal_input(self) -> bool:
        return sys.stdin.isatty()

    def ask(self, prompt: str) -> str | None:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        answers: TextIO
        try:
            answers = open("/dev/tty")  # noqa: SIM115 - closed below; stdin may be redirected
        except OSError:
            answers = sys.stdin
        try:
            line = answers.readline()
        finally:
            if answers is not sys.stdin:
                answers.close()
        return line.rstrip("\r\n") if line else None

    def ask_secret(self, prompt: str) -> str | None:
        import getpass

        try:
            return getpass.getpass(prompt, stream=sys.stderr)
        except (EOFError, OSError):
            return None

    def read_input(self) -> str | None:
        if sys.stdin.isatty():
            return None
        return sys.stdin.read()

    def attach(self, request: SessionRequest) -> int:
        from tui import exec_session

        return exec_session.run(request)
