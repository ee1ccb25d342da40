"""The client side of ``plat exec``: a websocket to platd, bridged to this terminal or pipe.

Imported only by the exec command: it needs asyncio and the websockets library, which every
other command starts without. The framing is specified in docs/exec.md (server side:
``platd/api/exec.py``).

The terminal is the part that must never go wrong:
- raw mode is used only for a TTY session that reads a terminal, and the saved attributes are
  restored in a ``finally`` that every exit path passes through; SIGTERM and SIGHUP end the
  session (and so pass through it) instead of killing plat on the spot.
- in raw mode Ctrl-C, Ctrl-D, Ctrl-Z and Ctrl-\\ are plain bytes for the remote TTY, which turns
  them into SIGINT, end of input, SIGTSTP and SIGQUIT for the remote process, as a local
  terminal would.
- without a TTY, Ctrl-C is a local SIGINT: it is forwarded as a ``signal`` message, and the
  third one detaches (platd then hangs up the remote process).
- SIGWINCH becomes a ``resize`` message; end of file on stdin an ``eof`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from platd import __version__
from platd.spec.errors import DaemonUnreachable, PlatError, from_wire
from tui.render import exec_banner

STDIN, STDOUT, STDERR = 0, 1, 2
CHUNK = 64 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
DETACH_AFTER = 3  # Ctrl-C presses without a TTY before plat stops waiting for the command


@dataclass(frozen=True)
class SessionRequest:
    api: str
    token: str | None
    target: str  # org/project/app/env
    instance: str  # an instance id or a unique prefix
    workload: str | None
    cmd: list[str]  # empty: the instance's shell
    tty: bool
    stdin: bool
    as_json: bool = False


def run(request: SessionRequest) -> int:
    """Run one session to its end; the remote command's exit code."""
    return asyncio.run(_Session(request).run())


def exec_url(api: str, target: str) -> str:
    parts = urlsplit(api if "://" in api else f"http://{api}")
    scheme = "wss" if parts.scheme == "https" else "ws"
    env_path = "/".join(quote(p, safe="") for p in target.split("/"))
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/v1/envs/{env_path}/exec",
                       "", ""))


class _Session:
    def __init__(self, request: SessionRequest) -> None:
        self.request = request
        self.raw = request.tty and request.stdin and os.isatty(STDIN)
        self.interrupts = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[int] = self.loop.create_future()
        async with await self._connect() as ws:
            self.ws = ws
            started = await self._start()
            self._banner(started)
            with _terminal(raw=self.raw):
                return await self._bridge()

    async def _connect(self) -> ClientConnection:
        r = self.request
        url = exec_url(r.api, r.target)
        headers = {"Authorization": f"Bearer {r.token}"} if r.token else {}
        try:
            return await connect(
                url, additional_headers=headers, compression=None, proxy=None,
                max_size=MAX_MESSAGE, open_timeout=10, close_timeout=2,
                user_agent_header=f"plat/{__version__}",
            )
        except InvalidStatus as e:
            raise _refused(e) from e
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise DaemonUnreachable(
                f"cannot open an exec session with platd at {r.api}: {reason}",
                hint=["is the daemon running? start it with: platd serve",
                      "check the address: plat whoami shows which API is used"],
            ) from e

    async def _start(self) -> dict[str, Any]:
        r = self.request
        rows, cols = _terminal_size() if r.tty else (0, 0)
        try:
            await self.ws.send(json.dumps({
                "type": "start", "instance": r.instance, "workload": r.workload, "cmd": r.cmd,
                "tty": r.tty, "stdin": r.stdin, "rows": rows, "cols": cols,
                "term": os.environ.get("TERM") or "xterm",
            }))
        except ConnectionClosed:
            pass  # a refusal may already be waiting to be read
        try:
            reply = _decode(await self.ws.recv())
        except ConnectionClosed as e:
            raise PlatError("platd closed the exec session before it started") from e
        if reply.get("type") == "error":
            raise from_wire({"error": reply.get("error")}, 0)
        if reply.get("type") != "started":
            raise PlatError(f"platd answered the exec start with {reply.get('type')!r}")
        return reply

    def _banner(self, started: dict[str, Any]) -> None:
        line = json.dumps(started, sort_keys=True) if self.request.as_json else exec_banner(started)
        print(line, file=sys.stderr, flush=True)

    async def _bridge(self) -> int:
        installed = self._install_signals()
        self.tasks.append(asyncio.create_task(self._output()))
        if self.request.stdin:
            self.tasks.append(asyncio.create_task(self._input()))
        try:
            return await self.done
        finally:
            for signum in installed:
                self.loop.remove_signal_handler(signum)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _finish(self, code: int) -> None:
        if not self.done.done():
            self.done.set_result(code)

    def _fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    # --- the two directions ------------------------------------------------------------------

    async def _output(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    _write_all(STDERR if message[:1] == bytes((STDERR,)) else STDOUT,
                               memoryview(message)[1:])
                    continue
                body = _decode(message)
                kind = body.get("type")
                if kind == "exit":
                    code = body.get("code")
                    if not isinstance(code, int):
                        self._say("plat: the command ended but its exit code is unknown")
                        code = 1
                    self._finish(code)
                    return
                if kind == "notice":
                    self._say(f"plat: {body.get('message')}")
                elif kind == "error":
                    self._fail(from_wire({"error": body.get("error")}, 0))
                    return
        except ConnectionClosed:
            pass
        except OSError as e:  # stdout or stderr closed under us (a pipe whose reader left)
            self._fail(e)
            return
        self._fail(PlatError(
            "the connection to platd closed before the command ended",
            hint="the daemon may have restarted; platd's log says more",
        ))

    async def _input(self) -> None:
        while True:
            data = await self._read_stdin()
            if not data:
                await self.ws.send(json.dumps({"type": "eof"}))
                return
            await self.ws.send(bytes((STDIN,)) + data)

    async def _read_stdin(self) -> bytes:
        while True:
            ready: asyncio.Future[None] = self.loop.create_future()
            try:
                self.loop.add_reader(STDIN, _resolve, ready)
            except (PermissionError, ValueError, OSError):
                # A regular file or /dev/null, which epoll refuses: reading never blocks long.
                return await self.loop.run_in_executor(None, _read, STDIN)
            try:
                await ready
            finally:
                self.loop.remove_reader(STDIN)
            try:
                return os.read(STDIN, CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: the terminal went away
                return b""

    # --- signals -----------------------------------------------------------------------------

    def _install_signals(self) -> list[int]:
        handlers: dict[int, Any] = {
            signal.SIGINT: self._interrupted,
            signal.SIGTERM: lambda: self._finish(128 + signal.SIGTERM),
            signal.SIGHUP: lambda: self._finish(128 + signal.SIGHUP),
        }
        if self.request.tty:
            handlers[signal.SIGWINCH] = self._resized
        for signum, handler in handlers.items():
            self.loop.add_signal_handler(signum, handler)
        return list(handlers)

    def _interrupted(self) -> None:
        self.interrupts += 1
        if self.interrupts >= DETACH_AFTER:
            self._say("plat: detached from the command; platd hangs it up")
            self._finish(128 + signal.SIGINT)
            return
        self._send_soon({"type": "signal", "signal": "INT"})

    def _resized(self) -> None:
        rows, cols = _terminal_size()
        if rows and cols:
            self._send_soon({"type": "resize", "rows": rows, "cols": cols})

    def _send_soon(self, body: dict[str, Any]) -> None:
        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(body))

        self.tasks.append(asyncio.create_task(send()))

    def _say(self, line: str) -> None:
        # In raw mode the terminal no longer turns "\n" into "\r\n".
        end = "\r\n" if self.raw else "\n"
        with contextlib.suppress(OSError):
            sys.stderr.write(line + end)
            sys.stderr.flush()


@contextlib.contextmanager
def _terminal(*, raw: bool) -> Iterator[None]:
    """Raw mode on stdin's terminal for the duration, restored however the block ends."""
    if not raw:
        yield
        return
    saved = termios.tcgetattr(STDIN)
    try:
        tty.setraw(STDIN, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(STDIN, termios.TCSADRAIN, saved)


def _terminal_size() -> tuple[int, int]:
    for fd in (STDOUT, STDIN, STDERR):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        return size.lines, size.columns
    return 0, 0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, CHUNK)
    except OSError:
        return b""


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:  # a descriptor another program left non-blocking
            select.select([], [fd], [])
            continue
        data = data[written:]


def _decode(message: str | bytes) -> dict[str, Any]:
    try:
        body = json.loads(message)
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"type": None}


def _refused(e: InvalidStatus) -> PlatError:
    status = e.response.status_code
    try:
        body = json.loads(e.response.body or b"")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return from_wire(body, status)
    return PlatError(
        f"platd refused the exec session (HTTP {status})",
        hint="a platd older than this plat has no exec route: upgrade the daemon",
    )
