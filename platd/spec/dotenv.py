"""Reading ``KEY=value`` pairs from the command line and from ``.env`` files.

Used by ``plat config set/import`` and ``plat secrets --set/--from-file``. Errors cite the file
and line, and never echo a value (it may be a secret).
"""

from __future__ import annotations

from platd.spec.errors import InvalidInput
from platd.spec.names import ENV_KEY_RE


def parse_pairs(items: list[str], what: str = "argument") -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not ENV_KEY_RE.match(key):
            shown = key if sep else item.split("=")[0][:40]
            raise InvalidInput(
                f"{what} {shown!r} is not KEY=value",
                hint="write each setting as KEY=value, e.g. GREETING=hello",
            )
        values[key] = value
    return values


def parse_env_file(text: str, source: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not ENV_KEY_RE.match(key):
            raise InvalidInput(
                f"{source} line {number}: expected KEY=value",
                hint="each line is KEY=value; lines starting with # are comments",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if raw.strip().split("=", 1)[1].strip()[0] == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        values[key] = value
    return values
