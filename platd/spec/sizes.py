"""Byte sizes as people write them ("128M", "1.5G", "512Mi") and as plat prints them.

Memory limits appear in ``plat.toml``, in ``plat scale --memory`` and in every status line, so the
parsing rules and the error wording live here once. Units are binary, as Docker's are: K, M, G and
T are powers of 1024, and the spellings ``Ki``/``KiB``/``KB`` mean the same thing.
"""

from __future__ import annotations

import re

from platd.spec.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from decimal import Decimal  # imported where used: ~1 ms that most plat commands skip

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

MAX_SIZE = 1024 * TIB  # ceiling for any size, so a slip like "999999T" is caught
MIN_MEMORY = 6 * MIB  # Docker refuses a memory limit below 6M
MAX_MEMORY = TIB

_UNITS = {"": 1, "B": 1, "K": KIB, "M": MIB, "G": GIB, "T": TIB}
_SIZE_RE = re.compile(
    r"^(?P<number>\d+(?:\.\d+)?)\s*(?:(?P<unit>[KMGT])(?:I?B|I)?|(?P<bytes>B))?$",
    re.IGNORECASE,
)
_NUMBER_THEN_WORD_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?\s*(?P<unit>\S+)$")
_EXAMPLES = (
    'write a number with a unit, e.g. "512M", "1.5G" or "2Gi" (K, M, G, T are powers of 1024)'
)


def parse_size(
    value: str | int,
    *,
    what: str = "size",
    minimum: int = 1,
    maximum: int = MAX_SIZE,
) -> int:
    """Bytes for ``value``: a string like "128M" or "1.5G", or an int already in bytes.

    Fractions are rounded down to whole bytes. ``what`` names the value in error messages
    ("memory", "volume size"), and ``minimum``/``maximum`` bound the result.
    """
    size = _to_bytes(value, what)
    if size < minimum:
        raise InvalidInput(
            f"{what} {_show(value)} is below the minimum of {format_size(minimum)}",
            hint=_below_minimum_hint(value, minimum, maximum),
            details={"value": value, "minimum": minimum},
        )
    if size > maximum:
        raise InvalidInput(
            f"{what} {_show(value)} is above the maximum of {format_size(maximum)}",
            hint=f"use at most {format_size(maximum)}",
            details={"value": value, "maximum": maximum},
        )
    return size


def parse_memory(value: str | int) -> int:
    """A container memory limit in bytes: between Docker's minimum (6M) and 1T."""
    return parse_size(value, what="memory", minimum=MIN_MEMORY, maximum=MAX_MEMORY)


def format_size(size: int) -> str:
    """A short label for ``size`` bytes that ``parse_size`` reads back: 134217728 -> "128M".

    The label is exact whenever some unit shows the size with at most two decimals and fewer
    than five digits ("1.5G", "1500K"); otherwise it is rounded to two decimals in the largest
    unit that fits ("128M" for one byte more than 128M).
    """
    from decimal import Decimal

    if size < 0:
        raise ValueError(f"a size cannot be negative: {size}")
    for suffix, unit in _LABEL_UNITS:
        amount = Decimal(size) / unit
        if (amount * 100) % 1 == 0 and 1 <= amount < 10_000:
            return _label(amount, suffix)
    for index, (suffix, unit) in enumerate(_LABEL_UNITS):
        if size >= unit:
            amount = round(Decimal(size) / unit, 2)
            if amount >= 1024 and index > 0:
                return "1" + _LABEL_UNITS[index - 1][0]
            return _label(amount, suffix)
    return f"{size}B"


_LABEL_UNITS = (("T", TIB), ("G", GIB), ("M", MIB), ("K", KIB), ("B", 1))


def _label(amount: Decimal, suffix: str) -> str:
    return f"{amount:.2f}".rstrip("0").rstrip(".") + suffix


def _to_bytes(value: str | int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(
            f'{what} must be a size like "512M" or a whole number of bytes, got {value!r}',
            hint=_EXAMPLES,
            details={"value": repr(value)},
        )
    if isinstance(value, int):
        return value
    text = value.strip()
    match = _SIZE_RE.match(text)
    if match is None:
        raise InvalidInput(
            f"invalid {what} {_show(value)}: {_why_unreadable(text)}",
            hint=_EXAMPLES,
            details={"value": value},
        )
    from decimal import Decimal

    unit = (match["unit"] or "").upper()
    exact = Decimal(match["number"]) * _UNITS[unit]
    if not unit and exact != int(exact):
        raise InvalidInput(
            f"invalid {what} {_show(value)}: a number of bytes must be whole",
            hint=_EXAMPLES,
            details={"value": value},
        )
    return int(exact)


def _why_unreadable(text: str) -> str:
    if not text:
        return "it is empty"
    if text.startswith("-"):
        return "a size cannot be negative"
    word = _NUMBER_THEN_WORD_RE.match(text)
    if word is not None:
        return f'unknown unit "{word["unit"]}"'
    return "expected a number followed by an optional unit"


def _below_minimum_hint(value: str | int, minimum: int, maximum: int) -> str:
    # A bare number such as "512" almost always means megabytes, as it does for `docker -m`'s
    # users who forget the unit; point at that instead of a generic message.
    if isinstance(value, str) and value.strip().isdigit():
        guess = int(value.strip()) * MIB
        if minimum <= guess <= maximum:
            return f'a bare number is bytes; did you mean "{value.strip()}M"?'
    return f"use at least {format_size(minimum)}"


def _show(value: str | int) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
