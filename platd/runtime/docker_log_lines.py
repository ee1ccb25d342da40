"""Docker's log formats to plat's lines: pure parsing, no I/O.

Both readers of ``docker_logs`` (the json-file log and the logs API) get Docker's pieces: a
long line is split into 16 KiB pieces of one stream, only the last ending the line. They are
joined back here, lines longer than ``MAX_LINE`` characters are cut into pieces marked as
continuing, and bytes that are not UTF-8 become ``\\xNN`` text (json-file has already replaced
them with U+FFFD by then). Kept apart from the readers so it is tested and benchmarked
(``bench/logs.py``) without an engine or a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from platd.runtime.docker_shapes import parse_time

MAX_LINE = 64 * 1024  # characters in one stored line; longer ones become several

Line = tuple[int, int, str, bool]
# (unix ns, stream, text without its newline, ends a line); None for an entry that is unreadable.
Piece = tuple[int, int, str, bool] | None


_SECONDS: dict[str, int] = {}


def parse_ns(text: str) -> int:
    """Docker's RFC 3339 time with nanoseconds (``...T10:04:50.34205906Z``) as unix ns; 0 if
    unreadable. The whole-second part repeats line after line, so it is parsed once."""
    head = text[:19]
    base = _SECONDS.get(head)
    if base is None:
        try:
            base = int(datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()) * 1_000_000_000
        except ValueError:
            return 0
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        _SECONDS[head] = base
    rest = text[19:]
    if rest == "Z":
        return base
    if rest[:1] == "." and rest[-1:] == "Z":
        digits = rest[1:-1]
        if digits.isdigit():
            return base + int(digits[:9].ljust(9, "0"))
    return _parse_ns_slow(text)


def _parse_ns_slow(text: str) -> int:
    seconds = parse_time(text)
    return int(seconds * 1_000_000_000) if seconds is not None else 0


class _Entry(msgspec.Struct):
    log: str = ""
    stream: str = "stdout"
    time: str = ""


_DECODE_MANY = msgspec.json.Decoder(list[_Entry])
_DECODE_ONE = msgspec.json.Decoder(_Entry)


def _piece(entry: _Entry) -> Piece:
    text = entry.log
    ends = text[-1:] == "\n"
    if ends:
        text = text[:-1]
        if text[-1:] == "\r":
            text = text[:-1]
    return (parse_ns(entry.time), 2 if entry.stream == "stderr" else 1, text, ends)


def parse_json_lines(data: bytes) -> list[Piece]:
    """Entries of a json-file log; ``data`` holds whole lines, each ending with a newline."""
    raw = data.split(b"\n")
    raw.pop()
    try:
        entries = _DECODE_MANY.decode(b"[" + b",".join(raw) + b"]")
    except (msgspec.DecodeError, ValueError):
        # A torn line (the engine stopped mid-write once): read the others one by one.
        pieces: list[Piece] = []
        for line in raw:
            try:
                pieces.append(_piece(_DECODE_ONE.decode(line)))
            except (msgspec.DecodeError, ValueError):
                pieces.append(None)
        return pieces
    return [_piece(e) for e in entries]


def parse_frames(buf: bytes) -> tuple[list[Piece], int]:
    """Pieces in the logs API's multiplexed stream (8-byte headers, ``timestamps=1``), and how
    many bytes of ``buf`` they used; a frame cut off at the end is left for the next read."""
    pieces: list[Piece] = []
    i, n = 0, len(buf)
    while i + 8 <= n:
        size = int.from_bytes(buf[i + 4 : i + 8], "big")
        if i + 8 + size > n:
            break
        stream = 2 if buf[i] == 2 else 1
        payload = buf[i + 8 : i + 8 + size]
        i += 8 + size
        stamp, _, body = payload.partition(b" ")
        ends = body.endswith(b"\n")
        if ends:
            body = body[:-1].removesuffix(b"\r")
        text = body.decode("utf-8", errors="backslashreplace")
        pieces.append((parse_ns(stamp.decode("ascii", errors="replace")), stream, text, ends))
    return pieces, i


def join_pieces(pieces: Sequence[Piece], *, force: bool) -> tuple[list[Line], int]:
    """Lines from ``pieces``, and how many pieces they used.

    Docker writes a long line as several pieces of one stream, only the last ending the line.
    Lines are returned up to the last point where no line is half-built, so a reader that
    resumes after the used pieces never splits a line; ``force`` ends half-built lines as they
    are (the stream ended, or the writer went quiet mid-line).
    """
    lines: list[Line] = []
    open_: dict[int, tuple[int, list[str]]] = {}
    safe_pieces = safe_lines = 0
    for i, piece in enumerate(pieces):
        if piece is not None:
            ts, stream, text, ends = piece
            started = open_.pop(stream, None)
            if started is not None:
                ts = started[0]
                started[1].append(text)
                text = "".join(started[1])
            while len(text) > MAX_LINE:
                lines.append((ts, stream, text[:MAX_LINE], True))
                text = text[MAX_LINE:]
            if ends:
                lines.append((ts, stream, text, False))
            elif text:
                open_[stream] = (ts, [text])
        if not open_:
            safe_pieces, safe_lines = i + 1, len(lines)
    if force:
        for stream, (ts, parts) in open_.items():
            lines.append((ts, stream, "".join(parts), False))
        return lines, len(pieces)
    return lines[:safe_lines], safe_pieces
