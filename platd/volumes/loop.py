"""The real backend: one allocated image file per volume, on a loop device, formatted XFS.

Why these choices (docs/volumes.md has the long form):
- The image is *allocated* (``posix_fallocate``), not sparse: the size is reserved on the data
  disk when the volume is created, so a full host disk can never turn into I/O errors inside an
  instance that is still below its volume's size.
- XFS, not ext4: growing a mounted ext4 needs CAP_SYS_RESOURCE (the resize ioctl), which hosts
  running platd in a container or under a restricted unit often lack; growing a mounted XFS
  needs CAP_SYS_ADMIN, which mounting needs anyway. XFS cannot shrink, and plat never shrinks.
- Mounted with ``nouuid``: a volume restored from a snapshot carries its source's filesystem
  UUID, and both must be mountable at once.
- Loop devices use direct I/O where the kernel allows it, so data is not cached twice (once for
  the filesystem in the volume, once for the image file), which keeps throughput near the disk's.

Every call runs under one lock: volume operations are rare and a snapshot must not race a resize.

With ``PLATD_VOLUME_HELPER`` set (the unit's ``volumes-helper.conf``), platd keeps its sandbox
and the privileged commands (losetup, mkfs.xfs, mount, umount, xfs_growfs, fsfreeze) run in
``platd-volume-helper`` behind that unix socket, one request per connection; so does the probe.
File work under the data directory (allocating, copying images) stays in platd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from platd.volumes.backend import (
    Usage,
    VolumeIOError,
    mount_source,
    mountpoint,
    volumes_root,
)

TOOLS = ("losetup", "mkfs.xfs", "xfs_growfs", "fsfreeze", "mount", "umount", "cp")


HELPER_ENV = "PLATD_VOLUME_HELPER"
MAX_ANSWER = 16 * 1024 * 1024
LOCAL_TOOLS = ("cp",)  # on files platd owns: no privilege needed
DETACH_WAIT = 10.0  # seconds a detach waits for a device another process holds to be cleared


def _helper() -> str | None:
    return os.environ.get(HELPER_ENV) or None


def _ask_helper(path: str, request: dict[str, object], timeout: float) -> dict[str, object]:
    """One request to platd-volume-helper over its socket; OSError when it cannot answer."""
    import json
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(request).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks, size = [], 0
        while chunk := s.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise OSError("the volume helper's answer is too large")
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        raise OSError("the volume helper answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise OSError("the volume helper answered something that is not an object")
    return answer


def probe() -> str | None:
    """None if this host can enforce volume sizes; otherwise why not, in plain words."""
    helper = _helper()
    if helper is not None:
        try:
            answer = _ask_helper(helper, {"probe": True}, 30)
        except OSError as e:
            return (f"the volume helper at {helper} does not answer ({e}); is "
                    "platd-volumes.socket running?")
        why = answer.get("unavailable")
        return str(why) if why else None
    problems = []
    if os.geteuid() != 0:
        problems.append("platd does not run as root (loop devices and mounts need it)")
    if not Path("/dev/loop-control").exists():
        problems.append("there are no loop devices (/dev/loop-control is missing)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        problems.append(f"missing tools: {', '.join(missing)} (install util-linux and xfsprogs)")
    if not _has_cap_sys_admin():
        problems.append("platd lacks CAP_SYS_ADMIN, which mounting needs (a sandboxed unit?)")
    if _private_mounts():
        problems.append("platd runs in its own mount namespace (systemd sandboxing such as "
                        "ProtectSystem=), so Docker would not see the volumes it mounts")
    return "; ".join(problems) or None


def _has_cap_sys_admin() -> bool:
    try:
        with open("/proc/self/status") as f:
            caps = next(line for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return True  # cannot tell: let the first mount say
    return bool(int(caps.split()[1], 16) & (1 << 21))


def _private_mounts() -> bool:
    try:
        return os.readlink("/proc/self/ns/mnt") != os.readlink("/proc/1/ns/mnt")
    except OSError:
        return False  # cannot tell (no permission to read PID 1's namespace)


def open_backend(data_path: Path) -> LoopBackend | UnavailableBackend:
    reason = probe()
    if reason is not None:
        return UnavailableBackend(data_path, reason)
    return LoopBackend(data_path)


def _run(*cmd: str, timeout: float = 600) -> str:
    helper = _helper()
    if helper is not None and cmd[0] not in LOCAL_TOOLS:
        try:
            answer = _ask_helper(helper, {"argv": list(cmd)}, timeout + 5)
        except OSError as e:
            raise VolumeIOError(f"{cmd[0]} failed: the volume helper does not answer ({e})"
                                ) from e
        code, out, err = answer.get("code"), answer.get("stdout"), answer.get("stderr")
        if code != 0:
            lines = str(err or out or "").strip().splitlines()
            raise VolumeIOError(f"{' '.join(cmd)} failed: {lines[-1] if lines else code}")
        return str(out or "")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VolumeIOError(f"{cmd[0]} failed: {e}") from e
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise VolumeIOError(f"{' '.join(cmd)} failed: {output[-1] if output else done.returncode}")
    return done.stdout


class LoopBackend:
    filesystem = "xfs"
    unavailable: str | None = None

    def __init__(self, data_path: Path) -> None:
        self.data_path = data_path
        self.root = volumes_root(data_path)
        self._lock = threading.RLock()

    # --- paths --------------------------------------------------------------------------

    def image(self, volume_id: str) -> Path:
        return self.root / "images" / f"{volume_id}.img"

    def snapshot_image(self, snapshot_id: str) -> Path:
        return self.root / "snapshots" / f"{snapshot_id}.img"

    def _dirs(self) -> None:
        for sub in ("images", "mnt", "snapshots"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def _loops(self, image: Path) -> list[str]:
        out = _run("losetup", "-j", str(image))
        return [line.split(":", 1)[0] for line in out.splitlines() if line.strip()]

    # --- the protocol ---------------------------------------------------------------------

    def is_mounted(self, volume_id: str) -> bool:
        return os.path.ismount(mountpoint(self.data_path, volume_id))

    def free_bytes(self) -> int:
        self._dirs()
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def create(self, volume_id: str, size: int) -> None:
        with self._lock:
            self._dirs()
            image = self.image(volume_id)
            if image.exists():
                raise VolumeIOError(f"{image} already exists")
            try:
                _allocate(image, size)
                _run("mkfs.xfs", "-q", "-f", str(image))
                self.attach(volume_id)
                mount_source(self.data_path, volume_id).mkdir(mode=0o755)
            except BaseException:
                with contextlib.suppress(VolumeIOError, OSError):
                    self.delete(volume_id)
                raise

    def attach(self, volume_id: str) -> bool:
        with self._lock:
            mnt = mountpoint(self.data_path, volume_id)
            if os.path.ismount(mnt):
                # A platd killed in the middle of a snapshot leaves the filesystem frozen and
                # its instance's writes hanging: thaw it (an error means it was not frozen).
                with contextlib.suppress(VolumeIOError):
                    _run("fsfreeze", "-u", str(mnt), timeout=60)
                return False
            image = self.image(volume_id)
            if not image.exists():
                raise VolumeIOError(f"the image of volume {volume_id} is missing: {image}")
            mnt.mkdir(parents=True, exist_ok=True, mode=0o755)
            loops = self._loops(image)
            if loops:
                try:
                    _run("mount", "-t", "xfs", "-o", "nouuid", loops[0], str(mnt))
                    return True
                except VolumeIOError:
                    # A device a detach left to be cleared (see detach) may vanish under the
                    # mount: then the image gets a device of its own, as it would have anyway.
                    if self._loops(image) == loops:
                        raise
            _run("mount", "-t", "xfs", "-o", "nouuid", self._new_loop(image), str(mnt))
            return True

    def _new_loop(self, image: Path) -> str:
        try:
            return _run("losetup", "-f", "--show", "--direct-io=on", str(image)).strip()
        except VolumeIOError:
            return _run("losetup", "-f", "--show", str(image)).strip()

    def detach(self, volume_id: str) -> None:
        with self._lock:
            mnt = mountpoint(self.data_path, volume_id)
            if os.path.ismount(mnt):
                _run("umount", str(mnt))
            image = self.image(volume_id)
            if image.exists():
                for loop in self._loops(image):
                    _run("losetup", "-d", loop)
                # losetup -d only marks a device another process holds open (a probe reading
                # its size, a backup tool) to be cleared when that one closes it: an attach in
                # between would mount a device about to vanish. Wait for it, within a bound.
                deadline = time.monotonic() + DETACH_WAIT
                while self._loops(image) and time.monotonic() < deadline:
                    time.sleep(0.05)

    def resize(self, volume_id: str, size: int) -> None:
        with self._lock:
            self.attach(volume_id)
            image = self.image(volume_id)
            _allocate(image, size)
            for loop in self._loops(image):
                _run("losetup", "-c", loop)
            _run("xfs_growfs", "-d", str(mountpoint(self.data_path, volume_id)))

    def usage(self, volume_id: str) -> Usage | None:
        mnt = mountpoint(self.data_path, volume_id)
        if not os.path.ismount(mnt):
            return None
        st = os.statvfs(mnt)
        capacity = st.f_blocks * st.f_frsize
        return Usage(capacity, capacity - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize)

    def snapshot(self, volume_id: str, snapshot_id: str) -> None:
        with self._lock:
            self._dirs()
            target = self.snapshot_image(snapshot_id)
            mnt = mountpoint(self.data_path, volume_id)
            frozen = False
            try:
                if os.path.ismount(mnt):
                    _run("fsfreeze", "-f", str(mnt))
                    frozen = True
                _copy(self.image(volume_id), target)
            finally:
                if frozen:
                    _run("fsfreeze", "-u", str(mnt))

    def restore(self, snapshot_id: str, volume_id: str, size: int) -> None:
        with self._lock:
            self._dirs()
            self.detach(volume_id)
            _copy(self.snapshot_image(snapshot_id), self.image(volume_id))
            _allocate(self.image(volume_id), size)
            self.attach(volume_id)
            _run("xfs_growfs", "-d", str(mountpoint(self.data_path, volume_id)))
            mount_source(self.data_path, volume_id).mkdir(mode=0o755, exist_ok=True)

    def delete(self, volume_id: str) -> None:
        with self._lock:
            self.detach(volume_id)
            self.image(volume_id).unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                mountpoint(self.data_path, volume_id).rmdir()

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._lock:
            self.snapshot_image(snapshot_id).unlink(missing_ok=True)


class UnavailableBackend(LoopBackend):
    """This host cannot enforce sizes: every operation that would need to is refused."""

    def __init__(self, data_path: Path, reason: str) -> None:
        super().__init__(data_path)
        self.unavailable = reason

    def _refuse(self) -> VolumeIOError:
        return VolumeIOError(f"sized volumes are unavailable on this host: {self.unavailable}")

    def create(self, volume_id: str, size: int) -> None:
        raise self._refuse()

    def attach(self, volume_id: str) -> bool:
        raise self._refuse()

    def resize(self, volume_id: str, size: int) -> None:
        raise self._refuse()

    def snapshot(self, volume_id: str, snapshot_id: str) -> None:
        raise self._refuse()

    def restore(self, snapshot_id: str, volume_id: str, size: int) -> None:
        raise self._refuse()


def _allocate(image: Path, size: int) -> None:
    """Reserve ``size`` bytes for the image (grows it; never shrinks)."""
    try:
        fd = os.open(image, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError as e:
        raise VolumeIOError(f"cannot allocate {size} bytes for {image.name}: {e.strerror}") from e


def _copy(source: Path, target: Path) -> None:
    """Copy an image, sharing blocks where the filesystem can and skipping runs of zeros."""
    partial = target.with_suffix(".partial")
    try:
        _run("cp", "--reflink=auto", "--sparse=always", str(source), str(partial), timeout=3600)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
