"""Field paths of a manifest, and the line each one was written on.

tomllib reports positions for syntax errors but not for values, so ``locate_lines`` re-scans the
(already valid) text and maps each dotted field path to its line: a validation error can then
say where. Paths look like ``workloads.web.count``, ``endpoints[1].internal_port`` and
``env.required[0]``: array indexes count from 0, and keys that are not bare TOML keys are quoted.
Pure text work; the rules that use it are in ``platd.spec.manifest_rules``.
"""

from __future__ import annotations

import json
import re

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_LAST_STEP_RE = re.compile(r'^(.*)(?:\.(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")|\[\d+\])$')


def key_path(parent: str, key: str) -> str:
    """The path of ``key`` inside the table at ``parent``, quoting keys that are not bare."""
    part = key if _BARE_KEY_RE.fullmatch(key) else json.dumps(key, ensure_ascii=False)
    return f"{parent}.{part}" if parent else part


def item_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def parent_path(path: str) -> str:
    match = _LAST_STEP_RE.match(path)
    return match.group(1) if match else ""


def line_of(lines: dict[str, int], path: str) -> int:
    """The line of ``path``, else of its nearest written ancestor (a missing key's table), or 0."""
    while path:
        if path in lines:
            return lines[path]
        path = parent_path(path)
    return 0


def locate_lines(text: str) -> dict[str, int]:
    """Map every table, key and array element path in valid TOML ``text`` to its 1-based line."""
    return _LineLocator(text).run()


class _LineLocator:
    """A scanner that understands just enough TOML to know where each key starts.

    It runs only on text tomllib accepted, so it need not report errors; it must only never loop
    forever or raise, whatever it is given.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[str, int] = {}
        self.implicit: set[str] = set()
        self.array_tables: dict[str, int] = {}

    def run(self) -> dict[str, int]:
        table = ""
        while True:
            self.skip_trivia()
            if self.pos >= len(self.text):
                return self.lines
            start = self.pos
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)
            if self.pos == start:
                self.advance()

    # characters

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.pos >= len(self.text):
                return
            if self.text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t", "\r"):
            self.advance()

    def skip_trivia(self) -> None:
        while True:
            self.skip_spaces()
            if self.peek() == "#":
                while self.peek() not in ("\n", ""):
                    self.advance()
            elif self.peek() == "\n":
                self.advance()
            else:
                return

    # records

    def mark(self, path: str, line: int, *, implicit: bool = False) -> None:
        # A table named by a later header beats the earlier header that only implied it.
        if implicit:
            if path not in self.lines:
                self.lines[path] = line
                self.implicit.add(path)
        elif path not in self.lines or path in self.implicit:
            self.lines[path] = line
            self.implicit.discard(path)

    # statements

    def header(self) -> str:
        line = self.line
        is_array = self.peek(1) == "["
        self.advance(2 if is_array else 1)
        parts = self.read_key()
        self.skip_spaces()
        self.advance(2 if is_array else 1)
        path = ""
        for position, part in enumerate(parts):
            path = key_path(path, part)
            last = position == len(parts) - 1
            if last and is_array:
                seen = self.array_tables.get(path, 0)
                self.array_tables[path] = seen + 1
                self.mark(path, line, implicit=True)
                path = item_path(path, seen)
            elif path in self.array_tables:
                path = item_path(path, self.array_tables[path] - 1)
            if not last:
                self.mark(path, line, implicit=True)
        self.mark(path, line)
        return path

    def key_value(self, table: str) -> None:
        line = self.line
        parts = self.read_key()
        if not parts:
            return
        path = table
        for part in parts[:-1]:
            path = key_path(path, part)
            self.mark(path, line, implicit=True)
        path = key_path(path, parts[-1])
        self.mark(path, line)
        self.skip_spaces()
        if self.peek() == "=":
            self.advance()
            self.skip_spaces()
            self.value(path)

    def read_key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_spaces()
            char = self.peek()
            if char in ('"', "'"):
                parts.append(self.quoted_key(char))
            else:
                start = self.pos
                while _BARE_KEY_RE.fullmatch(self.peek()):
                    self.advance()
                if self.pos == start:
                    return parts
                parts.append(self.text[start : self.pos])
            self.skip_spaces()
            if self.peek() != ".":
                return parts
            self.advance()

    def quoted_key(self, quote: str) -> str:
        self.advance()
        start = self.pos
        while self.peek() not in (quote, "\n", ""):
            self.advance(2 if quote == '"' and self.peek() == "\\" else 1)
        raw = self.text[start : self.pos]
        self.advance()
        if quote == "'":
            return raw
        try:
            decoded = json.loads(f'"{raw}"')
        except ValueError:
            return raw
        return decoded if isinstance(decoded, str) else raw

    # values

    def value(self, path: str) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.string(char)
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            while self.peek() not in (",", "]", "}", "\n", "#", ""):
                self.advance()

    def string(self, quote: str) -> None:
        delimiter = quote * 3 if self.text.startswith(quote * 3, self.pos) else quote
        self.advance(len(delimiter))
        while self.peek():
            if quote == '"' and self.peek() == "\\":
                self.advance(2)
            elif self.text.startswith(delimiter, self.pos):
                self.advance(len(delimiter))
                # A multi-line string may end with up to two extra quotes that belong to it.
                while len(delimiter) == 3 and self.peek() == quote:
                    self.advance()
                return
            elif len(delimiter) == 1 and self.peek() == "\n":
                return
            else:
                self.advance()

    def array(self, path: str) -> None:
        self.advance()
        index = 0
        while True:
            self.skip_trivia()
            if self.peek() in ("]", ""):
                self.advance()
                return
            start = self.pos
            element = item_path(path, index)
            self.mark(element, self.line)
            self.value(element)
            self.skip_trivia()
            if self.peek() == "," or self.pos == start:
                self.advance()
            index += 1

    def inline_table(self, path: str) -> None:
        self.advance()
        while True:
            self.skip_trivia()
            if self.peek() in ("}", ""):
                self.advance()
                return
            start = self.pos
            self.key_value(path)
            self.skip_trivia()
            if self.peek() == "," or self.pos == start:
                self.advance()
