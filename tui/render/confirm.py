"""Destructive commands: what each delete or revoke destroys, the question that asks for the
name, and the refusals (nobody to ask and no --yes; the wrong name typed).

The consequences are said before the question, in one table, so every front end warns alike.
"""

from __future__ import annotations

from platd.spec.errors import InvalidInput

DELETE_CONSEQUENCES = {
    "org": "the org goes; it must have no projects left",
    "project": "the project goes; it must have no apps left",
    "app": "the app goes; it must have no envs left",
    "env": "its instances are stopped and removed, and its releases, config and secrets can "
           "no longer be reached",
    "volume": "the volume's data and every snapshot of it are destroyed",
    "endpoint": "it stops listening at once: clients of its addresses are cut off",
    "token": "whoever uses it is refused from now on, and its open exec sessions end",
}


def confirm_note(kind: str, name: str, consequence: str) -> str:
    """What a destructive command says before it asks."""
    verb = "Revoking" if kind == "token" else "Deleting"
    return f"{verb} {kind} {name}: {consequence}."


def confirm_question(kind: str, name: str) -> str:
    verb = "revoke" if kind == "token" else "delete"
    return f"type the {kind}'s name ({name}) to {verb} it: "


def confirm_needed(kind: str, retry: str) -> InvalidInput:
    """A destructive command with nobody to ask and no --yes: refused, nothing sent."""
    verb = "revoking" if kind == "token" else "deleting"
    article = "an" if kind[0] in "aeiou" else "a"
    return InvalidInput(f"{verb} {article} {kind} needs a confirmation; nothing was changed",
                        hint=[f"run it on a terminal and type the {kind}'s name when asked",
                              f"or, in a script: {retry}"])


def not_confirmed(kind: str, name: str, typed: str | None, retry: str) -> InvalidInput:
    verb = "revoked" if kind == "token" else "deleted"
    why = "no name was typed" if not typed else f"{typed!r} is not its name"
    return InvalidInput(f"{kind} {name} not {verb}: {why}",
                        hint=f"type {name} exactly when asked, or: {retry}")
