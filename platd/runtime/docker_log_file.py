"""Following a container's json-file log by reading the file itself.

Used when the container logs with Docker's default ``json-file`` driver and this process can
read the file (platd as root beside the engine): reading it needs no engine work and parses
several hundred thousand lines per CPU-second, where the engine's logs API serves 15-30k
lines/s (``bench/logs.py``; see ``docker_logs``). The cursor is the file's inode and byte
offset. The reader sleeps until inotify reports a change (it polls where inotify is missing),
reads a few new lines on the event loop and more in a worker thread, holds back a half-written
last line until it settles, and notices truncation, rotation and removal, reading the rest of
the old file first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

from platd.runtime.base import LogBatch
from platd.runtime.docker_log_cursor import Resume
from platd.runtime.docker_log_lines import Line, join_pieces, parse_json_lines
from platd.runtime.inotify import Inotify

READ_CHUNK = 512 * 1024
MAX_UNCONSUMED = 8 * 1024 * 1024  # a partial line never holds more than this back
POLL_MIN, POLL_MAX = 0.005, 0.05  # seconds between looks at an idle file, without inotify
INLINE_READ = 64 * 1024  # new bytes read on the event loop itself; more go to a worker thread
SETTLE = 0.1  # a partial line at the end of the file this long is taken as complete
CHECK_FILE_EVERY = 1.0  # seconds between checks for rotation or removal


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


async def follow_file(path: str, resume: Resume, stop: asyncio.Event) -> AsyncIterator[LogBatch]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # removed between inspect and open
    watcher = Inotify.get()
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
