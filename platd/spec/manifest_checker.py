"""``Checker``: reads typed values out of a decoded manifest, recording an issue (with its field
path and line) and using a default for each bad one, so validation goes on and reports every
problem in one pass.

Every section's rules (workloads, endpoints, volumes) read through it, so "expected an integer,
got the string "3"; remove the quotes" is said the same way for every field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from platd.spec.manifest import ManifestIssue
from platd.spec.manifest_lines import item_path, key_path, line_of
from platd.spec.manifest_words import quote, section, show, unknown_field, unquote_tip
from platd.spec.names import ENV_KEY_RE, NAME_RE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

NAME_RULE = (
    "use 1-40 lowercase letters, digits and '-', starting with a letter, not ending with '-'"
)
ENV_KEY_RULE = "use letters, digits and '_', not starting with a digit"


@dataclass
class Checker:
    """Reads typed values out of decoded TOML, recording an issue and a default for each bad one."""

    lines: dict[str, int]
    issues: list[ManifestIssue] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.issues.append(ManifestIssue(path, line_of(self.lines, path), message))

    def table(self, path: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The table at ``path`` (empty if it is not a table), after reporting unknown fields."""
        if not isinstance(value, dict):
            self.add(path, f"expected a table, got {show(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(key_path(path, key), unknown_field(key, path, allowed))
        return value

    def required(self, path: str, body: dict[str, Any], key: str) -> Any:
        if key not in body:
            self.add(key_path(path, key), f"missing required field '{key}' in {section(path)}")
        return body.get(key)

    def string(self, path: str, value: Any, default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {show(value)}")
            return default
        return value

    def integer(self, path: str, value: Any, default: int, low: int, high: int | None) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"expected an integer, got {show(value)}{unquote_tip(value)}")
            return default
        if value < low or (high is not None and value > high):
            limits = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.add(path, f"must be {limits}, got {value}")
            return default
        return value

    def number(
        self, path: str, value: Any, default: float, unit: str, high: float | None = None,
        low: float | None = None,
    ) -> float:
        """A positive, finite number of ``unit`` (seconds, cores), at least ``low`` (if given)
        and at most ``high``."""
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, f"expected a number, got {show(value)}{unquote_tip(value)}")
            return default
        floor = f"at least {low:g}" if low is not None else "more than 0"
        limits = f"{floor} and at most {high:g}" if high is not None else floor
        limits += f" ({unit})"
        too_low = value <= 0 or (low is not None and value < low)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            self.add(path, f"must be {limits}, got {value}")
            return default
        return float(value)

    def boolean(self, path: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(path, f"expected true or false, got {show(value)}")
            return default
        return value

    def port(self, path: str, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"expected a port number, got {show(value)}{unquote_tip(value)}")
            return 0
        if not 1 <= value <= 65535:
            self.add(path, f"a port must be between 1 and 65535, got {value}")
            return 0
        return value

    def array(self, path: str, value: Any) -> list[tuple[str, Any]]:
        """The elements at ``path`` with their own paths; empty if it is not an array."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, f"expected an array, got {show(value)}")
            return []
        return [(item_path(path, index), element) for index, element in enumerate(value)]

    def ports(self, path: str, value: Any) -> list[tuple[str, int]]:
        """The distinct valid ports listed at ``path``, each with its own path."""
        found: dict[int, str] = {}
        for element_path, element in self.array(path, value):
            port = self.port(element_path, element)
            if port and port in found:
                self.add(element_path, f"port {port} is listed twice")
            elif port:
                found[port] = element_path
        return [(element_path, port) for port, element_path in found.items()]

    def name(self, path: str, value: Any, kind: str) -> str:
        text = self.string(path, value, "")
        if isinstance(value, str) and not NAME_RE.match(text):
            self.add(path, f"invalid {kind} name {quote(text)}: {NAME_RULE}")
        return text

    def names(self, path: str, value: Any, kind: str, rule: re.Pattern[str]) -> tuple[str, ...]:
        """A list of distinct names (``rule`` decides which are valid), as for env.required."""
        found: list[str] = []
        for element_path, element in self.array(path, value):
            text = self.string(element_path, element, "")
            if not isinstance(element, str):
                continue
            if not rule.match(text):
                why = ENV_KEY_RULE if rule is ENV_KEY_RE else NAME_RULE
                self.add(element_path, f"invalid {kind} name {quote(text)}: {why}")
            elif text in found:
                self.add(element_path, f"{kind} {quote(text)} is listed twice")
            else:
                found.append(text)
        return tuple(found)

    def aot(self, path: str, value: Any) -> list[tuple[str, Any]]:
        """The entries of an array of tables such as [[endpoints]]."""
        if isinstance(value, dict):
            self.add(
                path,
                f"expected repeated tables [[{path}]], got a single table; "
                f"write [[{path}]] with two brackets",
            )
            return []
        return self.array(path, value)
