"""Following a container's output on the Docker engine, fast enough for chatty containers.

``DockerRuntime.follow_logs`` picks one of two readers per container:

- **the json-file log, read directly** (``LogPath`` from inspect) when the container logs with
  Docker's default ``json-file`` driver and this process can read the file: the usual case for
  platd, which runs as root beside the engine. Measured on a 2-core host, the engine serves its
  logs API at roughly 15-30k lines/s because it re-decodes and re-frames every line, while
  reading the file needs no engine work at all and parses several hundred thousand lines per
  CPU-second (``bench/logs.py`` prints both). The cursor is the file's inode and byte offset, so a
  restarted platd resumes exactly where it stopped: no gap, no duplicate. The file survives
  container restarts (one file per container), so one reader follows every run of an instance.
  A reader sleeps until inotify reports a change (``_Inotify``; it polls where inotify is
  missing), so an idle container costs nothing and a new line is read within a millisecond.
- **the logs API** (``GET /containers/{id}/logs?follow=1&timestamps=1``) otherwise: other log
  drivers, a remote engine, rootless setups. The cursor is the newest timestamp seen and how many
  lines carried it; a resumed follow asks for ``since`` that time and skips those lines.

Both join the pieces Docker splits long lines into (16 KiB each) back into one line, cut lines
longer than ``MAX_LINE`` characters into pieces marked as continuing, and turn bytes that are not
UTF-8 into ``\\xNN`` text (json-file has already replaced them with U+FFFD by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiodocker
import aiohttp
import msgspec
from aiodocker.exceptions import DockerError

from platd.runtime.base import LogBatch, RuntimeError_
from platd.runtime.docker_shapes import parse_time

__all__ = ["MAX_LINE", "Resume", "follow_logs", "join_pieces", "parse_frames", "parse_json_lines",
           "parse_ns"]

MAX_LINE = 64 * 1024  # characters in one stored line; longer ones become several
READ_CHUNK = 512 * 1024
MAX_UNCONSUMED = 8 * 1024 * 1024  # a partial line never holds more than this back
POLL_MIN, POLL_MAX = 0.005, 0.05  # seconds between looks at an idle file, without inotify
INLINE_READ = 64 * 1024  # new bytes read on the event loop itself; more go to a worker thread
SETTLE = 0.1  # a partial line at the end of the file this long is taken as complete
CHECK_FILE_EVERY = 1.0  # seconds between checks for rotation or removal
WAIT_RUNNING = 0.5
WAIT_FIRST_START = 1.0

Line = tuple[int, int, str, bool]
# (unix ns, stream, text without its newline, ends a line); None for an entry that is unreadable.
Piece = tuple[int, int, str, bool] | None


# --- pure parsing ------------------------------------------------------------------------------


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


class Resume:
    """Where a follow stands: the newest timestamp yielded and how many lines carried it.

    A reader that cannot seek to an exact place (the logs API, or a json-file replaced since the
    cursor was taken) asks for lines since ``ts`` and drops the ``count`` it already yielded.
    """

    __slots__ = ("count", "inode", "offset", "skip_n", "skip_ts", "ts")

    def __init__(self, ts: int = 0, count: int = 0, inode: int = 0, offset: int = 0) -> None:
        self.ts, self.count, self.inode, self.offset = ts, count, inode, offset
        self.skip_ts: int | None = None
        self.skip_n = 0

    @classmethod
    def parse(cls, cursor: str | None) -> Resume:
        if not cursor:
            return cls()
        kind, *fields = cursor.split(":")
        try:
            numbers = [int(f) for f in fields]
            if kind == "json" and len(numbers) == 4:
                inode, offset, ts, count = numbers
                return cls(ts, count, inode, offset)
            if kind == "api" and len(numbers) == 2:
                return cls(numbers[0], numbers[1])
        except ValueError:
            pass
        return cls()

    def start_skipping(self) -> None:
        """The next lines repeat from ``ts`` on: drop what was already yielded."""
        if self.ts:
            self.skip_ts, self.skip_n = self.ts, self.count

    def accept(self, lines: list[Line]) -> list[Line]:
        """The lines not yielded before; remembers the newest timestamp among them."""
        if self.skip_ts is not None:
            kept: list[Line] = []
            for i, line in enumerate(lines):
                ts = line[0]
                if ts > self.skip_ts:  # past the repeated part: everything from here is new
                    self.skip_ts = None
                    kept.extend(lines[i:])
                    break
                if ts < self.skip_ts:
                    continue
                if self.skip_n > 0:
                    self.skip_n -= 1
                    continue
                kept.append(line)
            lines = kept
        top, count = self.ts, self.count
        for line in lines:
            ts = line[0]
            if ts > top:
                top, count = ts, 1
            elif ts == top:
                count += 1
        self.ts, self.count = top, count
        return lines

    def api_cursor(self) -> str:
        return f"api:{self.ts}:{self.count}"

    def file_cursor(self) -> str:
        return f"json:{self.inode}:{self.offset}:{self.ts}:{self.count}"


# --- following -----------------------------------------------------------------------------------


async def follow_logs(
    client: Callable[[], aiodocker.Docker], container_id: str, cursor: str | None,
    stop: asyncio.Event,
) -> AsyncIterator[LogBatch]:
    """``Runtime.follow_logs`` for Docker: the json-file reader when possible, else the API."""
    resume = Resume.parse(cursor)
    while True:
        info = await _inspect(client(), container_id)
        if info is None:
            return
        config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        path = str(info.get("LogPath") or "")
        if config.get("Type", "json-file") != "json-file":
            break
        if not path:
            # Created but never started: the engine opens the log file at the first start.
            if stop.is_set():
                return
            await _sleep_unless(stop, WAIT_FIRST_START)
            continue
        if os.access(path, os.R_OK):
            async for batch in _follow_file(path, resume, stop):
                yield batch
            return
        break
    async for batch in _follow_api(client, container_id, resume, stop):
        yield batch


async def _inspect(docker: aiodocker.Docker, container_id: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = await docker.containers.container(container_id).show()
    except DockerError as exc:
        if exc.status == 404:
            return None
        raise _error(exc, container_id) from exc
    except aiohttp.ClientError as exc:
        raise _error(exc, container_id) from exc
    return data


def _error(exc: DockerError | aiohttp.ClientError, container_id: str) -> RuntimeError_:
    from platd.runtime.docker import _error as translate

    return translate(exc, f"following the logs of container {container_id}")


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _read_chunk(fd: int, offset: int, size: int, force: bool) -> tuple[list[Line], int, bool]:
    """Lines from the file at ``offset``, the bytes they used, and whether the read was full."""
    data = os.pread(fd, size, offset)
    full = len(data) == size
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], 0, full
    pieces = parse_json_lines(data[:end])
    lines, used = join_pieces(pieces, force=force)
    if used == len(pieces):
        return lines, end, full
    consumed = 0
    for raw in data[:end].split(b"\n", used)[:used]:
        consumed += len(raw) + 1
    return lines, consumed, full


async def _follow_file(path: str, resume: Resume, stop: asyncio.Event) -> AsyncIterator[LogBatch]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # removed between inspect and open
    watcher = _Inotify.get()
    wake = asyncio.Event()
    watch = watcher.watch(path, wake) if watcher is not None else None
    relay = asyncio.create_task(_relay(stop, wake))
    try:
        inode = os.fstat(fd).st_ino
        if resume.inode == inode:
            offset = resume.offset
        else:
            offset = 0
            resume.start_skipping()
        resume.inode, resume.offset = inode, offset
        chunk = READ_CHUNK
        poll = POLL_MIN
        stuck_since, stuck_size = 0.0, -1
        last_check = time.monotonic()
        finishing = False  # the file was removed or replaced: read what is left, then move on
        while True:
            wake.clear()  # before looking: a write after this moment ends the next wait at once
            size = os.fstat(fd).st_size
            if size < offset:  # truncated in place: start over, dropping what was yielded
                offset, resume.offset = 0, 0
                resume.start_skipping()
            ending = stop.is_set() or finishing
            stuck = False
            if size > offset:
                now = time.monotonic()
                force = ending or chunk > MAX_UNCONSUMED or (
                    size == stuck_size and now - stuck_since >= SETTLE
                )
                if size - offset <= INLINE_READ:  # a few lines: cheaper than a thread hop
                    lines, used, full = _read_chunk(fd, offset, chunk, force)
                else:
                    lines, used, full = await asyncio.to_thread(
                        _read_chunk, fd, offset, chunk, force)
                if used:
                    offset += used
                    resume.offset = offset
                    chunk, poll, stuck_size = READ_CHUNK, POLL_MIN, -1
                    kept = resume.accept(lines)
                    if kept:
                        yield LogBatch(kept, resume.file_cursor())
                    continue
                if full:
                    chunk *= 2  # one line longer than the chunk, or a partial line held back
                    continue
                if size != stuck_size:
                    stuck_since, stuck_size = now, size
                stuck = True
                if force and ending:
                    size = offset  # only a torn last line is left: nothing more will come of it
            if ending and size <= offset:
                if finishing and not stop.is_set():
                    replaced = _reopen(path, inode)
                    if replaced is not None:
                        os.close(fd)
                        fd, inode = replaced
                        offset, finishing = 0, False
                        resume.inode, resume.offset = inode, 0
                        if watcher is not None and watch is not None:
                            watcher.unwatch(watch, wake)
                            watch = watcher.watch(path, wake)
                        continue
                return
            now = time.monotonic()
            if watch is not None or now - last_check >= CHECK_FILE_EVERY:
                # With inotify a wake-up without new data is rare (a rename, a removal), so
                # look at once; when polling, once a second is enough.
                last_check = now
                try:
                    finishing = os.stat(path).st_ino != inode
                except FileNotFoundError:
                    finishing = True
                if finishing:
                    continue
            if watch is not None:
                timeout = SETTLE if stuck else CHECK_FILE_EVERY
            else:
                timeout = poll
                poll = min(poll * 2, POLL_MAX)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    finally:
        relay.cancel()
        if watcher is not None and watch is not None:
            watcher.unwatch(watch, wake)
        os.close(fd)


async def _relay(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


class _Inotify:
    """Wake-ups when a followed file changes, from Linux inotify (through ctypes: the standard
    library has no binding). One instance per event loop; ``get`` returns None where inotify is
    unavailable, and followers then poll (``POLL_MIN`` backing off to ``POLL_MAX``)."""

    MASK = 0x2 | 0x4 | 0x400 | 0x800  # IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
    IGNORED = 0x8000  # IN_IGNORED: the watch is gone (file deleted)
    _by_loop: dict[asyncio.AbstractEventLoop, _Inotify | None] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import ctypes
        import ctypes.util

        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = int(self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd
        self._loop = loop
        self._events: dict[int, set[asyncio.Event]] = {}
        loop.add_reader(fd, self._read)

    @classmethod
    def get(cls) -> _Inotify | None:
        loop = asyncio.get_running_loop()
        if loop not in cls._by_loop:
            for old in [lp for lp in cls._by_loop if lp.is_closed()]:
                found = cls._by_loop.pop(old)
                if found is not None:
                    os.close(found.fd)
            try:
                cls._by_loop[loop] = cls(loop) if hasattr(os, "O_CLOEXEC") else None
            except (OSError, AttributeError):
                cls._by_loop[loop] = None
        return cls._by_loop[loop]

    def watch(self, path: str, event: asyncio.Event) -> int | None:
        wd = int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), self.MASK))
        if wd < 0:
            return None  # out of watches, say: this follower polls instead
        self._events.setdefault(wd, set()).add(event)
        return wd

    def unwatch(self, wd: int, event: asyncio.Event) -> None:
        events = self._events.get(wd)
        if events is None:
            return
        events.discard(event)
        if not events:
            del self._events[wd]
            self._libc.inotify_rm_watch(self.fd, wd)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 64 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        i = 0
        while i + 16 <= len(data):
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, i)
            i += 16 + length
            for event in self._events.get(wd, ()):
                event.set()
            if mask & self.IGNORED:
                self._events.pop(wd, None)


def _reopen(path: str, old_inode: int) -> tuple[int, int] | None:
    """The file now at ``path`` after a rotation, or None if the container's log is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    inode = os.fstat(fd).st_ino
    if inode == old_inode:
        os.close(fd)
        return None
    return fd, inode


async def _follow_api(
    client: Callable[[], aiodocker.Docker], container_id: str, resume: Resume,
    stop: asyncio.Event,
) -> AsyncIterator[LogBatch]:
    while True:
        info = await _inspect(client(), container_id)
        if info is None:
            return
        running = bool((info.get("State") or {}).get("Running"))
        live = running and not stop.is_set()
        async for batch in _fetch(client(), container_id, resume, live):
            yield batch
        if stop.is_set() and not live:
            return
        if live:
            continue  # the container stopped: look again (it may have restarted already)
        while not stop.is_set():  # stopped: wait for a restart, a removal or the end
            await _sleep_unless(stop, WAIT_RUNNING)
            info = await _inspect(client(), container_id)
            if info is None:
                return
            if (info.get("State") or {}).get("Running"):
                break


async def _fetch(
    docker: aiodocker.Docker, container_id: str, resume: Resume, live: bool
) -> AsyncIterator[LogBatch]:
    params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if live else "0"}
    if resume.ts:
        seconds, nanos = divmod(resume.ts, 1_000_000_000)
        params["since"] = f"{seconds}.{nanos:09d}"
    resume.start_skipping()
    held: list[Piece] = []
    buf = b""
    try:
        async with docker._query(
            f"containers/{container_id}/logs", params=params, timeout=None
        ) as response:
            async for chunk in response.content.iter_any():
                buf += chunk
                pieces, used = parse_frames(buf)
                buf = buf[used:]
                held += pieces
                lines, n = join_pieces(held, force=len(held) > 4096)
                del held[:n]
                kept = resume.accept(lines)
                if kept:
                    yield LogBatch(kept, resume.api_cursor())
    except DockerError as exc:
        if exc.status == 404:
            return
        raise _error(exc, container_id) from exc
    except aiohttp.ClientError as exc:
        raise _error(exc, container_id) from exc
    lines, _ = join_pieces(held, force=True)
    kept = resume.accept(lines)
    if kept:
        yield LogBatch(kept, resume.api_cursor())
