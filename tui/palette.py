"""The command palette: CLI command lines, typed in the TUI.

What is typed is parsed by the CLI's own runner and parser (``tui.cli.runner``), so the verbs,
flags and their help are the CLI's. The verbs an operator needs during a deploy or an incident
run inside the TUI (``PALETTE_VERBS``); the target is always the env in view unless
``--target`` says otherwise. Commands the TUI has no screen of its own for run the CLI's
handler with a ``PaneCtx`` and show its words.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from platd.spec.errors import InvalidInput
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx

# verb -> an example of what may follow it
PALETTE_VERBS: dict[str, str] = {
    "status": "",
    "releases": "",
    "events": "--release v3",
    "logs": "-w web -s warn",
    "instances": "",
    "describe": "workload web",
    "exec": "web --instance 4kq2 -- sh",
    "rollback": "v3",
    "scale": "web --count 3",
    "endpoints": "describe public",
    "exposed": "",
    "volumes": "describe data",
    "use": "ORG/PROJECT/APP/ENV",
}


def cli_help() -> dict[str, str]:
    """Each CLI subcommand's one-line help, as ``plat --help`` shows it."""
    from tui.cli.runner import build_parser

    parser = build_parser()
    out: dict[str, str] = {}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for choice in getattr(action, "_choices_actions", []):
            out[choice.dest] = choice.help or ""
    return out


def parse_line(line: str) -> argparse.Namespace:
    """``line`` (without the leading ``plat``) as the CLI would parse it; errors as InvalidInput."""
    import shlex

    from tui.cli.options import ParserExit
    from tui.cli.runner import parse, split

    words = split(line)
    if not words or words[0] not in PALETTE_VERBS:
        raise InvalidInput(
            f"the TUI runs {', '.join(PALETTE_VERBS)}; run other commands in a shell",
            hint=f"in a shell: plat {line.strip()}" if words else "",
        )
    said = TranscriptCtx(FixedSettings(None, None))
    try:
        args = parse(words, said)
    except ParserExit:
        message = said.lines("err")
        raise InvalidInput(message[-1] if message else f"cannot run: {line}",
                           hint=f"plat {words[0]} --help (in a shell) lists its options") from None
    if words[0] == "exec":
        from tui.cli.commands.exec import _split

        args.workload, args.cmd = _split(args)
    args._line = shlex.join(words)
    return args


class PaneCtx(TranscriptCtx):
    """What a CLI handler gets when it runs in the TUI: the app's client and daemon, the env in
    view as the default target (as `plat use` makes it), and what it says kept for a dialog."""

    def __init__(self, client: Any, api: str, token: str | None, target: str,
                 asker: Callable[[list[str], str], str | None] | None = None) -> None:
        super().__init__(FixedSettings(api, token, target), client=client)
        self._asker = asker

    @property
    def interactive(self) -> bool:
        return self._asker is not None

    def ask(self, prompt: str) -> str | None:
        """The question in a dialog, with what the command said before it (its notes)."""
        if self._asker is None:
            return super().ask(prompt)
        from tui.cli.context import ERR

        return self._asker(self.lines(ERR), prompt)


def command_text(args: argparse.Namespace) -> str:
    """The command line a parsed ``args`` came from, near enough for a title."""
    return str(getattr(args, "_line", args.command))


class PlatCommands(Provider):
    """Hits for what is typed: the typed line itself when it starts with a TUI verb."""

    async def discover(self) -> Hits:
        helps = cli_help()
        for verb in PALETTE_VERBS:
            yield DiscoveryHit(f"plat {verb}", partial(self._run, verb),
                               help=helps.get(verb, ""))

    async def search(self, query: str) -> Hits:
        helps = cli_help()
        line = query.strip()
        if line.startswith("plat "):
            line = line[5:].strip()
        first, _, rest = line.partition(" ")
        matcher = self.matcher(first)
        for verb, example in PALETTE_VERBS.items():
            score = matcher.match(verb)
            if score <= 0:
                continue
            command = f"{verb} {rest}".strip() if verb == first or not rest else None
            if command is None:
                continue
            shown = f"plat {command}"
            help_text = helps.get(verb, "")
            if example and not rest:
                help_text += f"  (e.g. plat {verb} {example})"
            yield Hit(score if verb != first else 1.0, matcher.highlight(shown) if not rest
                      else shown, partial(self._run, command), text=shown, help=help_text)

    def _run(self, line: str) -> None:
        run: Any = getattr(self.app, "run_command_line", None)
        if run is not None:
            run(line)
