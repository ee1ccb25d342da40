"""Destructive commands ask before they act: type the thing's name, or pass ``--yes``.

An env, app, project, org, volume or endpoint deleted by mistake takes running instances or data
with it, and a revoked token cuts off whoever uses it. So each of those commands asks the person
at the front end to type the name of what goes (as ``plat hosts remove`` does); a script, which
has nobody to ask, must say ``--yes``. Without either, nothing is sent to platd. The question is
asked through ``Ctx.ask``, so the TUI asks it in a dialog with the same words.
"""

from __future__ import annotations

import argparse

from tui.cli.context import Ctx


def add_yes(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--yes`` flag of a destructive command."""
    parser.add_argument("--yes", "-y", action="store_true",
                        help=f"do not ask to type the {what}'s name (for scripts)")


def confirm_by_name(ctx: Ctx, kind: str, name: str, consequence: str, retry: str) -> None:
    """Return once the person typed ``name`` (or ``--yes`` was given); raise otherwise.

    ``kind`` is what is deleted ("env"), ``consequence`` what deleting it does, and ``retry``
    the command that deletes it without asking."""
    from tui.render import confirm as words

    if getattr(ctx.args, "yes", False):
        return
    if not ctx.interactive:
        raise words.confirm_needed(kind, retry)
    ctx.note(words.confirm_note(kind, name, consequence))
    answer = ctx.ask(words.confirm_question(kind, name))
    typed = None if answer is None else answer.strip()
    if typed != name:
        raise words.not_confirmed(kind, name, typed, retry)
