"""Names people give things: orgs, projects, apps, envs, workloads, bundles, config keys.

One rule for resource names (DNS-label-like, so they fit container names and hostnames) and one
for environment variable keys (POSIX shell names), each with an error that says what to type.
"""

from __future__ import annotations

import re

from platd.spec.errors import InvalidInput

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidInput(
            f"invalid {kind} name {value!r}: use 1-40 lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'",
            hint=f"for example: {_suggest(value)}",
            details={"kind": kind, "value": value},
        )
    return value


def check_env_key(value: str) -> str:
    if not isinstance(value, str) or not ENV_KEY_RE.match(value):
        raise InvalidInput(
            f"invalid environment variable name {value!r}: use letters, digits and '_', "
            "not starting with a digit",
            hint="for example: DATABASE_URL or GREETING",
            details={"value": value},
        )
    return value


def _suggest(value: object) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", str(value).lower()).strip("-")
    if not text or not text[0].isalpha():
        text = "x" + text
    return text[:40].rstrip("-") or "my-app"
