"""What a command handler gets: its arguments, a lazily built client, the target, and output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from platd.spec.errors import InvalidInput, Unauthenticated
from tui.cli import settings


class Ctx:
    # A plain class, not a dataclass: importing dataclasses (and inspect with it) would cost
    # every command 5 ms of start-up.
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._client: Any = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def client(self) -> Any:
        if self._client is None:
            from tui.client import Client

            api = settings.api()
            if not api:
                raise Unauthenticated(
                    "plat does not know which daemon to talk to",
                    hint="log in with: plat login --api http://127.0.0.1:7400 --token TOKEN "
                    "(or set PLAT_API and PLAT_TOKEN)",
                )
            self._client = Client(api, settings.token())
        return self._client

    def target(self) -> str:
        """ORG/PROJECT/APP/ENV from --target, the single-level flags and the default context."""
        base = getattr(self.args, "target", None) or settings.default_target() or ""
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
        """Print ``data`` as JSON with --json, else the human ``lines``."""
        if self.json:
            json.dump(data, sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
        elif lines is not None:
            for line in lines:
                print(line)
        sys.stdout.flush()

    def say(self, line: str) -> None:
        """Progress for people: to stdout normally, to stderr under --json."""
        print(line, file=sys.stderr if self.json else sys.stdout, flush=True)
