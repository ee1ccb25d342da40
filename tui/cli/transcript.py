"""A ``Ctx`` that keeps what a command says, in order, for front ends that are not a terminal.

The TUI's palette shows the words in a dialog; the web console streams each piece to its
transcript as it is written (``on_write``); tests compare them with what the CLI prints. The
text is exactly what the CLI would have written to stdout (``OUT``) and stderr (``ERR``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from tui.cli.context import ERR, BaseCtx

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from tui.cli.settings import Settings
    from tui.client import Client
    from tui.follow import Cancel


class TranscriptCtx(BaseCtx):
    """``answers``: what the person types, in order, when the command asks (none: nobody can
    answer, as for a script)."""

    def __init__(self, settings: Settings, *, client: Client | None = None,
                 cancel: Cancel | None = None, args: argparse.Namespace | None = None,
                 answers: Iterable[str] = (),
                 on_write: Callable[[str, str], None] | None = None) -> None:
        super().__init__(settings, client=client, cancel=cancel, args=args)
        self.chunks: list[tuple[str, str]] = []
        self._answers = list(answers)
        self._interactive = bool(self._answers)
        self._on_write = on_write

    def write(self, stream: str, text: str) -> None:
        self.chunks.append((stream, text))
        if self._on_write is not None:
            self._on_write(stream, text)

    @property
    def interactive(self) -> bool:
        return self._interactive

    def ask(self, prompt: str) -> str | None:
        if not self._answers:
            self.write(ERR, prompt + "\n")
            return None
        answer = self._answers.pop(0)
        self.write(ERR, prompt + answer + "\n")  # as a terminal would echo it
        return answer

    def text(self, stream: str | None = None) -> str:
        """What was written to ``stream`` (None: both, interleaved as written)."""
        return "".join(text for s, text in self.chunks if stream is None or s == stream)

    def lines(self, stream: str | None = None) -> list[str]:
        return self.text(stream).splitlines()
