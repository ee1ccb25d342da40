"""Manifests that are not TOML at all: a parse error said with its line, the line's text and a
tip, and brackets nested so deep that the parser would recurse out of the stack.

Apart from the validation rules because these run before there is a document to validate, and
because tomllib's messages need translating (position cut out, advice added) in one place.
"""

from __future__ import annotations

import re
import tomllib

from platd.spec.errors import ManifestInvalid

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

MAX_NESTING = 64  # tables and arrays inside each other; a manifest needs four or five


def nesting_error(text: str) -> Any:
    """A factory for the error of brackets nested deeper than MAX_NESTING, or None.

    tomllib parses nested arrays and inline tables by recursion, so thousands of ``[`` end in
    a RecursionError; counting brackets first turns that into an error with a line. Brackets
    inside strings and comments count too, which can only make a far-fetched manifest fail
    here instead of in the parser.
    """
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return None
    depth = 0
    line = 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return lambda source: nested_too_deep(source, line)
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == "\n":
            line += 1
    return None


def nested_too_deep(source: str, line: int) -> ManifestInvalid:
    where = f" at line {line}" if line else ""
    return ManifestInvalid(
        f"{source} nests arrays or tables more than {MAX_NESTING} deep{where}",
        hint="a manifest needs a few levels: [workloads.web], command = [...], health = {...}",
        details={"file": source, "line": line,
                 "issues": [{"path": "", "line": line, "message": "nested too deeply"}]},
    )


_POSITION_RE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")
_SYNTAX_ADVICE = (
    ("twice", "each table and key may appear only once; merge the two into one"),
    ("overwrite", "each table and key may appear only once; merge the two into one"),
    ("Unterminated string", "close the string with the same quote it opened with"),
    ("Unclosed", "close the array or inline table with ']' or '}'"),
    ("Invalid value", 'strings need quotes: image = "nginx:1.27", not image = nginx:1.27'),
)


_TOML_BASICS = (
    'check the TOML syntax there: strings need quotes (app = "hello"), tables are written '
    "[workloads.web] and repeated tables [[endpoints]]"
)


def syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> ManifestInvalid:
    raw = str(exc)
    position = _POSITION_RE.search(raw)
    reason = raw[: position.start()] if position else raw
    source_lines = text.splitlines()
    if position and position.group(1):
        line, column = int(position.group(1)), int(position.group(2))
    else:  # "at end of document": the last line is the closest honest answer
        line, column = max(len(source_lines), 1), 0
    where = f"line {line}, column {column}" if column else f"line {line} (end of file)"
    hint = []
    if 0 < line <= len(source_lines):
        hint.append(f"line {line}: {source_lines[line - 1].strip()}")
    hint.append(next((tip for key, tip in _SYNTAX_ADVICE if key in reason), _TOML_BASICS))
    return ManifestInvalid(
        f"{source} is not valid TOML: {reason[:1].lower()}{reason[1:]} at {where}",
        hint=hint,
        details={
            "file": source,
            "line": line,
            "column": column,
            "issues": [{"path": "", "line": line, "message": reason}],
        },
    )
