"""Reading the files a user names on the command line (a manifest, a .env file), bounded.

``-f /dev/zero`` must not read until the machine runs out of memory, ``-f /dev/urandom`` must
not hang, and a FIFO must not block the command forever: only regular files are read, opened
without blocking, and never more than a limit that fits the daemon's request size. Bytes that
are not UTF-8 text are refused with the line they are on instead of a Python traceback.

Standard library only: every ``plat`` command that takes a file imports this module.
"""

from __future__ import annotations

import os
import stat

from platd.spec.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path

KIB = 1024
# The daemon takes request bodies up to 1 MiB; a JSON body escapes some characters, so the
# text a user may send is kept well under it.
MAX_MANIFEST = 256 * KIB
MAX_ENV_FILE = 256 * KIB

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_text_file(path: Path, what: str, limit: int, hint: str) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes.

    ``what`` names the file in errors ("manifest", ".env file"); ``hint`` says what to pass
    instead. Every refusal is ``InvalidInput`` (exit 2).
    """
    try:
        # O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise InvalidInput(f"no {what} at {path}", hint=hint) from None
    except OSError as e:
        raise InvalidInput(f"cannot read the {what} {path}: {e.strerror}", hint=hint) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(
                f"the {what} {path} is {_kind(info.st_mode)}, not a regular file", hint=hint
            )
        if info.st_size > limit:
            raise _too_large(path, what, limit, hint)
        data = _read_at_most(fd, limit + 1)
    except OSError as e:
        raise InvalidInput(f"cannot read the {what} {path}: {e.strerror}", hint=hint) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise _too_large(path, what, limit, hint)
    return decode_text(data, str(path), what)


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 64 * KIB))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _too_large(path: Path, what: str, limit: int, hint: str) -> InvalidInput:
    return InvalidInput(
        f"the {what} {path} is larger than the {limit // KIB} KiB limit",
        hint=[f"a {what} is small text; check that {path} is the file you meant", hint],
    )


def decode_text(data: bytes, source: str, what: str) -> str:
    """``data`` as UTF-8 text without NUL bytes; else an error naming the line and byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidInput(
            # The byte itself is not shown: the file may hold secrets.
            f"the {what} {source} is not UTF-8 text: byte {e.start + 1} (line {line}) is not",
            hint=f"save {source} as UTF-8 text",
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InvalidInput(
            f"the {what} {source} looks binary: line {line} holds a NUL byte",
            hint=f"a {what} is text; check that {source} is the file you meant",
        )
    return text
