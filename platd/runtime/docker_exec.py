"""The Docker runtime's exec sessions, and the framing of Docker's multiplexed streams.

Split out of ``docker`` (the runtime) to keep each module to one job: an exec session is a
hijacked connection with its own life (stdin half-close, signals by host PID, the exit code),
and none of the runtime's container bookkeeping needs it. ``DockerRuntime.exec`` opens the
session; this module holds what the session does once open. ``demultiplex`` is here because
it is the one place that knows Docker's 8-byte stream frame headers (the logs read uses it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from platd.runtime.base import RuntimeError_

__all__ = ["DockerExecSession", "demultiplex"]


class DockerExecSession:
    """One ``docker exec``: aiodocker's hijacked stream plus what it lacks.

    - stdin EOF: aiodocker's ``Stream.close`` half-closes the socket *and* drops the connection,
      losing the output that follows; ``close_stdin`` half-closes the socket only (Docker then
      closes the process's stdin), reaching into the stream's transport.
    - signals: the Docker API cannot signal an exec'd process, so ``signal`` sends it to the
      process's host PID (to its process group, as a terminal would, when it leads one), and
      only after ``/proc/PID/cgroup`` proves that PID is in this container (a reused PID, or an
      engine on another machine, is never signalled).
    """

    def __init__(self, execution: Exec, stream: Stream, container_id: str, *, local: bool) -> None:
        self._exec = execution
        self._stream = stream
        self._container_id = container_id
        self._local = local
        self._ended = False

    async def read(self) -> tuple[int, bytes] | None:
        try:
            message = await self._stream.read_out()
        except (DockerError, aiohttp.ClientError, OSError):
            return None  # the engine dropped the stream: for the caller, the output ended
        return None if message is None else (message.stream, message.data)

    async def write(self, data: bytes) -> None:
        try:
            await self._stream.write_in(data)
        except (RuntimeError, OSError, aiohttp.ClientError) as exc:
            raise RuntimeError_(f"writing to a process in container {self._container_id}: "
                                f"{exc}") from exc

    async def close_stdin(self) -> None:
        response = self._stream._resp
        connection = response.connection if response is not None else None
        transport = connection.transport if connection is not None else None
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()

    async def resize(self, rows: int, cols: int, attempts: int = 1) -> None:
        for attempt in range(attempts):
            try:
                await self._exec.resize(h=rows, w=cols)
                return
            except DockerError:  # not running yet, or already ended: a size is only advice
                await asyncio.sleep(0.01 * (attempt + 1))
            except aiohttp.ClientError:
                return

    async def signal(self, signum: int) -> None:
        info = await self._inspect()
        for _ in range(40):
            # A busy engine reports a started exec as running before it records its PID.
            if not info.get("Running") or int(info.get("Pid") or 0) > 0:
                break
            await asyncio.sleep(0.05)
            info = await self._inspect()
        pid = int(info.get("Pid") or 0)
        if not info.get("Running"):
            return
        if pid <= 0:
            raise RuntimeError_("cannot signal the process yet: the engine has not reported its id")
        where = f"process {pid} of container {self._container_id[:12]}"
        if not self._local or not _pid_in_container(pid, self._container_id):
            raise RuntimeError_(f"cannot signal {where}: it is not visible from platd's host")
        try:
            # Like a terminal's Ctrl-C: the whole process group (the exec'd process leads one).
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise RuntimeError_(f"cannot signal {where}: {exc.strerror}") from exc

    async def wait(self) -> int | None:
        delay = 0.002
        for _ in range(60):  # the output can close a moment before the engine records the exit
            info = await self._inspect()
            if not info.get("Running"):
                self._ended = True
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return None

    async def close(self) -> None:
        try:
            if not self._ended:
                await self._hang_up()
        finally:
            await self._stream.close()

    async def _hang_up(self) -> None:
        with contextlib.suppress(RuntimeError_):
            for signum in (signal.SIGHUP, signal.SIGKILL):
                await self.signal(signum)
                for _ in range(20):
                    if not (await self._inspect()).get("Running"):
                        return
                    await asyncio.sleep(0.1)

    async def _inspect(self) -> dict[str, Any]:
        try:
            return await self._exec.inspect()
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, f"inspecting an exec in container {self._container_id}") from exc


def _pid_in_container(pid: int, container_id: str) -> bool:
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def demultiplex(raw: bytes) -> bytes:
    """Join the payloads of Docker's multiplexed log stream (8-byte frame headers).

    A container with a TTY sends an unframed stream; that is returned as it is.
    """
    out = bytearray()
    i = 0
    while i + 8 <= len(raw):
        if raw[i] not in (0, 1, 2) or raw[i + 1 : i + 4] != b"\0\0\0":
            return raw
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + size]
        i += 8 + size
    return bytes(out) if i == len(raw) else raw



def _error(exc: DockerError | aiohttp.ClientError, action: str) -> RuntimeError_:
    # The runtime's translation, imported when needed: docker imports this module.
    from platd.runtime.docker import _error as translate

    return translate(exc, action)
