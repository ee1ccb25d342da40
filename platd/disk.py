"""The data disk of a host: how much is free, whether it counts as full, and a ballast.

A full disk used to take platd down: every write failed, nothing could be scaled down or
deleted (a tombstone is a write too), and platd crash-looped on restart. Two things keep it
standing now:

- Below ``disk_min_free`` the host counts as *full*: services refuse writes that add data
  (``require_room``) with a clear ``storage_full`` error, while reads, scaling and deletes go on,
  and ``plat status`` says so.
- A *ballast*: ``DATA/ballast``, a file of ``BALLAST_BYTES`` allocated while there is room. When
  free space runs out anyway (another process filled the disk, or a write failed with
  SQLITE_FULL), platd deletes it, so the small writes that free space (tombstones, scale-down,
  events) still have room. A second, smaller one, ``DATA/ballast.start``, is given back only by
  a platd that *starts* on a disk with (almost) nothing free: SQLite needs room for its WAL
  index before it can even read. Both are allocated again once the disk has room.

Free space is read with ``statvfs`` (what an unprivileged process may use), at most every
``CHECK_EVERY`` seconds unless a caller asks for a fresh look.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platd.spec.limits import disk_full
from platd.spec.sizes import MIB, format_size

log = logging.getLogger("platd.disk")

BALLAST_BYTES = 16 * MIB
START_BALLAST_BYTES = 4 * MIB
START_NEEDS = 2 * MIB  # a platd starting with less than this free gives back the start ballast
CHECK_EVERY = 1.0


@dataclass(frozen=True)
class DiskState:
    path: str
    free_bytes: int  # free to use now, the ballast not counted
    total_bytes: int
    ballast_bytes: int  # held back by the ballast file (0 once released)
    min_free: int

    @property
    def full(self) -> bool:
        return self.free_bytes < self.min_free or self.free_bytes <= 0

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "free_bytes": self.free_bytes,
                "total_bytes": self.total_bytes, "full": self.full,
                "min_free_bytes": self.min_free}


class DiskWatch:
    """One host's data disk; thread-safe (services run in worker threads)."""

    def __init__(self, path: Path, min_free: int, *, ballast_bytes: int = BALLAST_BYTES,
                 statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.min_free = min_free
        self.ballast = path / "ballast"
        self.ballast_bytes = ballast_bytes
        self.start_ballast = path / "ballast.start"
        self._statvfs = statvfs
        self._clock = clock
        self._lock = threading.Lock()
        self._last: DiskState | None = None
        self._at = 0.0

    def state(self, *, fresh: bool = False) -> DiskState:
        """Free space now (cached for ``CHECK_EVERY`` s); releases or refills the ballast."""
        with self._lock:
            now = self._clock()
            if self._last is not None and not fresh and now - self._at < CHECK_EVERY:
                return self._last
            self._last = self._look()
            self._at = now
            return self._last

    def require_room(self, what: str) -> None:
        """Refuse ``what`` (a write that adds data) while the disk counts as full."""
        state = self.state()
        if state.full:
            raise disk_full(state.path, state.free_bytes, what)

    def release(self) -> None:
        """A write failed for want of space: give the ballast back now (store hook)."""
        with self._lock:
            self._drop(self.ballast, "a write found the disk full")
            self._last = None

    def starting(self) -> DiskState:
        """Before platd opens its databases: with (almost) nothing free, give back both
        ballasts so that SQLite can open them."""
        with self._lock:
            if self._free() < START_NEEDS:
                self._drop(self.ballast, "platd is starting")
                self._drop(self.start_ballast, "platd is starting")
            self._last, self._at = self._look(refill=False), self._clock()
            return self._last

    def _look(self, *, refill: bool = True) -> DiskState:
        st = self._statvfs(str(self.path))
        free = st.f_bavail * st.f_frsize
        total = st.f_blocks * st.f_frsize
        if self._held(self.ballast) and free < self.ballast_bytes:
            self._drop(self.ballast, f"only {format_size(free)} free")
            free = self._free()
        room = self.min_free + 2 * (self.ballast_bytes + START_BALLAST_BYTES)
        if refill and free > room:
            for path, size in ((self.start_ballast, START_BALLAST_BYTES),
                               (self.ballast, self.ballast_bytes)):
                if not self._held(path):
                    self._fill(path, size)
            free = self._free()
        held = self._held(self.ballast) + self._held(self.start_ballast)
        return DiskState(str(self.path), free, total, held, self.min_free)

    def _free(self) -> int:
        st = self._statvfs(str(self.path))
        return st.f_bavail * st.f_frsize

    @staticmethod
    def _held(path: Path) -> int:
        try:
            return path.stat().st_blocks * 512
        except FileNotFoundError:
            return 0

    def _drop(self, path: Path, why: str) -> None:
        size = self._held(path)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        log.warning("the data disk at %s is nearly full (%s): gave back its ballast file %s "
                    "(%s) so that deletes, scaling and platd itself keep working", self.path,
                    why, path.name, format_size(size))

    def _fill(self, path: Path, size: int) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as e:
            path.unlink(missing_ok=True)
            log.info("could not set the disk ballast aside at %s: %s", path, e)
