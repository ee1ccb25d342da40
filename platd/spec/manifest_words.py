"""How a manifest error names things: a value as the user wrote it (typed, in TOML spelling), a
section, an unknown field with its closest known one, a name that refers to nothing.

Pure string work shared by the checker and every section's rules; kept apart so the words can
be read (and changed) in one place.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection

from platd.spec.manifest_lines import parent_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def unknown_field(key: str, table: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    where = f"in {section(table)}" if table else "at the top level"
    if close:
        return f"unknown field '{key}' {where}; did you mean '{close[0]}'?"
    return f"unknown field '{key}' {where}; expected one of: {', '.join(sorted(allowed))}"


def did_you_mean(value: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    if choices:
        return f"; this manifest defines: {', '.join(sorted(choices))}"
    return ""


def section(path: str) -> str:
    if not path:
        return "the top level"
    if path.endswith("]"):
        return f"[[{parent_path(path)}]]"
    return f"[{path}]"


def show(value: Any) -> str:
    """How a value a user wrote reads back in an error: typed, in TOML spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return (
            f"the string {json.dumps(value, ensure_ascii=False)}" if value else 'an empty string ""'
        )
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value}"


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def unquote_tip(value: Any) -> str:
    if isinstance(value, str) and _looks_numeric(value):
        return "; remove the quotes"
    return ""


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
