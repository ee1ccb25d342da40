"""Wake-ups when a followed file changes, from Linux inotify.

A log follower sleeps until its file changes instead of polling it: an idle container then
costs nothing, and a new line is read within a millisecond. The standard library has no
binding, so this talks to libc through ctypes; the watches of every follower on one event loop
share one inotify descriptor.
"""

from __future__ import annotations

import asyncio
import os
import struct


class Inotify:
    """Wake-ups when a followed file changes, from Linux inotify (through ctypes: the standard
    library has no binding). One instance per event loop; ``get`` returns None where inotify is
    unavailable, and followers then poll (``docker_log_file.POLL_MIN`` backing off to
    ``POLL_MAX``)."""

    MASK = 0x2 | 0x4 | 0x400 | 0x800  # IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
    IGNORED = 0x8000  # IN_IGNORED: the watch is gone (file deleted)
    _by_loop: dict[asyncio.AbstractEventLoop, Inotify | None] = {}

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
    def get(cls) -> Inotify | None:
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
