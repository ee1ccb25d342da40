"""The client side of ``plat exec``: a websocket to platd, bridged to this terminal or pipe.

Imported only by the exec command and the TUI's exec screen. The websocket is the
``websockets`` package's synchronous client (RFC 6455, TLS for ``https://`` API addresses):
platd's server side is uvicorn's websockets implementation, and the framing on top is
specified in docs/exec.md (server side: ``platd/api/exec.py``). The session's process is
started first, over plain HTTP on a thread, while this process imports the websocket library
(more than half of what ``plat exec`` spends before a command runs); the websocket then attaches
to the process's session and gets its output from the first byte. A ``Wire`` drives one open
session from threads: a receiving thread hands output to the terminal as it arrives, a sending
thread writes stdin and control messages, so neither a silent remote nor one that stops reading
ever blocks the other direction, the signals or the terminal.

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

import contextlib
import json
import os
import queue
import select
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from platd import __version__
from platd.spec.errors import DaemonUnreachable, NotFound, PlatError, from_wire

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

STDIN, STDOUT, STDERR = 0, 1, 2
CHUNK = 64 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
HIGH_WATER = 1024 * 1024  # unsent bytes at which plat stops reading stdin
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 1.0  # for platd's answer to our close frame when plat leaves a session
START_TIMEOUT = 120.0  # platd may have to wait for a busy Docker engine
CANCEL_TIMEOUT = 2.0  # for hanging up a session plat gives up on before attaching
DETACH_AFTER = 3  # Ctrl-C presses without a TTY before plat stops waiting for the command
READER_DONE = b"\0"  # on the wake-up pipe, beside signal numbers (none is 0)


class SessionRequest(NamedTuple):
    api: str
    token: str | None
    target: str  # org/project/app/env
    instance: str | None  # an id or a unique prefix; None: the only running one
    workload: str | None
    cmd: list[str]  # empty: the instance's shell
    tty: bool
    stdin: bool
    as_json: bool = False


def run(request: SessionRequest) -> int:
    """Run one session to its end; the remote command's exit code."""
    session = _Session(request)
    try:
        return session.run()
    finally:
        session.close()


def exec_url(api: str, target: str, session: str | None = None) -> str:
    parts = urlsplit(api if "://" in api else f"http://{api}")
    scheme = "wss" if parts.scheme == "https" else "ws"
    env_path = "/".join(quote(p, safe="") for p in target.split("/"))
    query = f"session={quote(session, safe='')}" if session else ""
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/v1/envs/{env_path}/exec",
                       query, ""))


def socket_address(url: str) -> tuple[str | bytes, int]:
    """(host, port) of ``url`` for ``socket.create_connection``, an ASCII host as bytes.

    Given a str, the socket module encodes the host with the ``idna`` codec, whose first use
    imports ``encodings.idna``, ``stringprep`` and ``unicodedata`` (about a millisecond of
    plat's start, for the name of a daemon that is almost always an address or a plain
    name). Bytes go to the resolver as they are; a name with other letters keeps its str.
    """
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    return (host.encode("ascii") if host.isascii() else host), port


def _tls(api: str) -> dict[str, Any]:
    """For wss: the CA pinned at login, as the HTTP client trusts it (``tui.cli.trust``)."""
    if not api.startswith("https://"):
        return {}
    from tui.cli import trust

    return {"ssl": trust.context(api)}


def connect(r: SessionRequest, session: str | None = None) -> ClientConnection:
    """The websocket to platd's exec route for ``r`` (attached to the started ``session`` if
    given); refusals of the upgrade become errors."""
    from tui import ws_import

    url = exec_url(r.api, r.target, session)
    # First, so websockets comes in leanly (ssl only for a wss:// address).
    ws_import.load(tls=url.startswith("wss:"))
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect as open_websocket

    headers = {"Authorization": f"Bearer {r.token}"} if r.token else {}
    opener = open_websocket(
        url, additional_headers=headers,
        user_agent_header=f"plat/{__version__}", open_timeout=CONNECT_TIMEOUT,
        close_timeout=CLOSE_TIMEOUT, max_size=MAX_MESSAGE,
        compression=None,  # output is mostly small and often already compressed
        proxy=None,  # as the HTTP client: straight to the daemon
        legacy=False,  # websockets' way from 17.1 on: a context manager that connects
        address=socket_address(url),  # passed on to socket.create_connection
        **_tls(r.api),
    )
    try:
        # Entered here, left by the session: ws.close() is what leaving it does.
        return opener.__enter__()
    except InvalidStatus as e:
        raise _refused(e.response.status_code, bytes(e.response.body or b"")) from None
    except (OSError, InvalidHandshake) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise DaemonUnreachable(
            f"cannot open an exec session with platd at {r.api}: {reason}",
            hint=["is the daemon running? start it with: platd serve",
                  "check the address: plat whoami shows which API is used"],
        ) from e


def _what(r: SessionRequest, rows: int, cols: int, term: str) -> dict[str, Any]:
    return {"instance": r.instance, "workload": r.workload, "cmd": r.cmd, "tty": r.tty,
            "stdin": r.stdin, "rows": rows, "cols": cols, "term": term}


def start(ws: ClientConnection, r: SessionRequest, rows: int, cols: int,
          term: str) -> dict[str, Any]:
    """Send ``start`` and wait for ``started``: platd chooses the instance by the rules in
    docs/exec.md (a refusal, with ``details.instances`` when several are running, is raised)."""
    return _started(ws, {"type": "start", **_what(r, rows, cols, term)})


def open_session(r: SessionRequest, rows: int, cols: int,
                 term: str) -> tuple[ClientConnection, dict[str, Any]]:
    """The websocket of a running session and platd's ``started`` message.

    The process is started over HTTP on a thread while the websocket library is imported,
    then the websocket attaches to it. A session that platd starts only on the websocket (an
    instance on another host, relayed; a platd older than this plat) is started there."""
    from tui import ws_import

    opening = _Opening(r, _what(r, rows, cols, term))
    try:
        ws_import.load(tls=r.api.startswith("https://"))
        session = opening.session()
        ws = connect(r, session)
    except BaseException:
        # The websocket will not come (it failed, Ctrl-C): the process is hung up now
        # rather than left to run unseen until platd gives up on it.
        opening.cancel()
        raise
    try:
        return ws, _started(ws, None) if session else start(ws, r, rows, cols, term)
    except BaseException:
        ws.close()
        raise


def _started(ws: ClientConnection, start_message: dict[str, Any] | None) -> dict[str, Any]:
    """Send ``start_message`` (None: the process is started already) and wait for
    ``started``; a refusal is raised."""
    from websockets.exceptions import ConnectionClosed

    try:
        if start_message is not None:
            ws.send(json.dumps(start_message))
        reply = _decode(ws.recv(timeout=START_TIMEOUT))
    except TimeoutError:
        raise PlatError(f"platd did not start the command within {START_TIMEOUT:g}s",
                        hint="the Docker engine may be overloaded; platd's log says more") from None
    except ConnectionClosed:
        raise PlatError("platd closed the exec session before it started") from None
    if reply.get("type") == "error":
        raise from_wire({"error": reply.get("error")}, 0)
    if reply.get("type") != "started":
        raise PlatError(f"platd answered the exec start with {reply.get('type')!r}")
    return reply


class _Opening(threading.Thread):
    """``POST .../exec/sessions`` on its own thread: the process starts while the caller
    imports the websocket library (the thread mostly waits for platd's answer)."""

    def __init__(self, r: SessionRequest, what: dict[str, Any]) -> None:
        from tui.client import Client

        super().__init__(name="plat-exec-open", daemon=True)
        self.client = Client(r.api, r.token, timeout=START_TIMEOUT,
                             connect_timeout=CONNECT_TIMEOUT)
        self.request = r
        self.path = self.client.env_path(r.target, "/exec/sessions")
        self.what = what
        self.answer: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.answer = self.client.post(self.path, self.what)
        except BaseException as e:  # raised by session(), on the caller's thread
            self.error = e
        finally:
            self.client.close()

    def session(self) -> str | None:
        """The started session's id; None when it is to be started on the websocket."""
        self.join()
        if self.error is not None:
            if isinstance(self.error, NotFound) and str(self.error).startswith("no API route"):
                return None  # a platd older than this plat
            raise self.error
        return self._opened()

    def _opened(self) -> str | None:
        found = self.answer.get("session") if isinstance(self.answer, dict) else None
        return found if isinstance(found, str) else None

    def cancel(self) -> None:
        """Best effort: hang up the session this opened, if it did (``DELETE``)."""
        from tui.client import Client

        self.join(CANCEL_TIMEOUT)
        found = self._opened()
        if found is None:
            return
        # A client of its own: the thread's may still be in its request.
        client = Client(self.request.api, self.request.token, timeout=CANCEL_TIMEOUT)
        with contextlib.suppress(PlatError, OSError):
            client.request("DELETE", f"{self.path}/{quote(found, safe='')}")
        client.close()


class Wire:
    """An open session's websocket, driven from threads.

    ``send`` queues a message and returns at once; a sending thread writes them in order, so a
    remote that stops reading never blocks the caller (``backlog`` says how much waits).
    ``receive`` blocks for the next message, None once the connection has ended. ``close``
    ends the session after what is queued (platd then hangs the remote process up).
    """

    _CLOSE = object()

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._backlog = 0
        self._sender = threading.Thread(target=self._send_all, name="plat-exec-send",
                                        daemon=True)
        self._sender.start()

    @property
    def backlog(self) -> int:
        return self._backlog

    def send(self, message: str | bytes) -> None:
        with self._lock:
            self._backlog += len(message)
        self._outbox.put(message)

    def receive(self) -> str | bytes | None:
        from websockets.exceptions import ConnectionClosed

        try:
            return self.ws.recv()
        except ConnectionClosed:
            return None

    def close(self, wait: float = CLOSE_TIMEOUT) -> None:
        self._outbox.put(self._CLOSE)
        self._sender.join(wait)

    def _send_all(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            message = self._outbox.get()
            if message is self._CLOSE:
                with contextlib.suppress(Exception):
                    self.ws.close()
                return
            try:
                self.ws.send(message)
            except (ConnectionClosed, OSError):
                pass  # the receiving side sees the end of the connection and says it
            finally:
                with self._lock:
                    self._backlog -= len(message)


class _Session:
    def __init__(self, request: SessionRequest) -> None:
        self.request = request
        self.raw = request.tty and request.stdin and os.isatty(STDIN)
        self.wire: Wire | None = None
        self.code: int | None = None  # the remote command's exit code
        self.failure: BaseException | None = None
        self.received_all = False  # the receiving thread has ended
        self.interrupts = 0

    def run(self) -> int:
        rows, cols = _terminal_size() if self.request.tty else (0, 0)
        ws, started = open_session(self.request, rows, cols, os.environ.get("TERM") or "xterm")
        self.wire = Wire(ws)
        if self.request.as_json:
            line = json.dumps(started, sort_keys=True)
        else:
            from tui.render.instances import exec_banner

            line = exec_banner(started)
        print(line, file=sys.stderr, flush=True)
        with _terminal(raw=self.raw), _signal_pipe(tty=self.request.tty) as (wake, woken):
            threading.Thread(target=self._receive, args=(self.wire, woken),
                             name="plat-exec-receive", daemon=True).start()
            return self._bridge(self.wire, wake)

    def close(self) -> None:
        if self.wire is not None:
            # After the exit message platd closes the connection itself (its close frame
            # follows the exit message, and websockets answers it as it arrives): waiting for
            # the TCP connection to end would only delay plat's exit. A session left early
            # waits for platd to take the close frame, so it hangs the process up at once.
            self.wire.close(wait=0 if self.code is not None else CLOSE_TIMEOUT)

    def _receive(self, wire: Wire, woken: int) -> None:
        """The receiving thread: output to this terminal as it comes, until ``exit``."""
        try:
            while self.code is None and (message := wire.receive()) is not None:
                self._on_message(message)
        except BaseException as e:  # handed to the main thread, which raises it
            self.failure = e
        finally:
            self.received_all = True
            with contextlib.suppress(OSError):
                os.write(woken, READER_DONE)

    def _bridge(self, wire: Wire, wake: int) -> int:
        reading = self.request.stdin
        while not self.received_all:
            full = wire.backlog >= HIGH_WATER
            watch = [wake] + ([STDIN] if reading and not full else [])
            # While the remote is not reading, look again shortly for room to read stdin.
            readable, _, _ = select.select(watch, [], [], 0.05 if reading and full else None)
            if wake in readable:
                with contextlib.suppress(BlockingIOError):
                    ended = self._on_signals(wire, os.read(wake, 512).replace(READER_DONE, b""))
                    if ended is not None:
                        return ended
            if STDIN in readable and (data := _read(STDIN)) is not None:
                wire.send(bytes((STDIN,)) + data if data else json.dumps({"type": "eof"}))
                reading = bool(data)
        if self.failure is not None:
            raise self.failure
        if self.code is None:
            raise PlatError("the connection to platd closed before the command ended",
                            hint="the daemon may have restarted; platd's log says more")
        return self.code

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            _write_all(STDERR if message[:1] == bytes((STDERR,)) else STDOUT,
                       memoryview(message)[1:])
            return
        body = _decode(message)
        kind = body.get("type")
        if kind == "exit":
            code = body.get("code")
            if not isinstance(code, int):
                self._say("plat: the command ended but its exit code is unknown")
                code = 1
            self.code = code
        elif kind == "notice":
            self._say(f"plat: {body.get('message')}")
        elif kind == "error":
            raise from_wire({"error": body.get("error")}, 0)

    def _on_signals(self, wire: Wire, received: bytes) -> int | None:
        """Act on the signals received; an exit code when one of them ends the session."""
        for signum in received:
            if signum == signal.SIGWINCH:
                rows, cols = _terminal_size()
                if rows and cols:
                    wire.send(json.dumps({"type": "resize", "rows": rows, "cols": cols}))
            elif signum == signal.SIGINT:
                self.interrupts += 1
                if self.interrupts >= DETACH_AFTER:
                    self._say("plat: detached from the command; platd hangs it up")
                    return 128 + signal.SIGINT
                wire.send(json.dumps({"type": "signal", "signal": "INT"}))
            else:  # SIGTERM, SIGHUP: end the session; platd hangs the command up
                return 128 + signum
        return None

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


@contextlib.contextmanager
def _signal_pipe(*, tty: bool) -> Iterator[tuple[int, int]]:
    """A pipe that receives the number of each signal plat gets, as one byte, for ``select``:
    (its read end, its write end, where the receiving thread says it has ended).

    The C-level handler writes it (``signal.set_wakeup_fd``), so a signal that arrives just
    before ``select`` blocks still wakes it; a Python handler alone would wait for it to return.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    wanted = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP] + ([signal.SIGWINCH] if tty else [])
    previous = {signum: signal.signal(signum, _noted) for signum in wanted}
    old_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    try:
        yield read_end, write_end
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(read_end)
        os.close(write_end)


def _noted(_signum: int, _frame: object) -> None:
    """Handled through the wakeup pipe; this only keeps the default action from running."""


def _terminal_size() -> tuple[int, int]:
    for fd in (STDOUT, STDIN, STDERR):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        return size.lines, size.columns
    return 0, 0


def _read(fd: int) -> bytes | None:
    """What ``fd`` has (b"" at its end), or None if nothing after all."""
    try:
        return os.read(fd, CHUNK)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:  # EIO: the terminal went away
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


def _refused(status: int, body: bytes) -> PlatError:
    """The error platd answered the upgrade request with, as the CLI knows it."""
    try:
        wire = json.loads(body or b"")
    except ValueError:
        wire = None
    if isinstance(wire, dict) and isinstance(wire.get("error"), dict):
        return from_wire(wire, status)
    return PlatError(
        f"platd refused the exec session (HTTP {status})",
        hint="a platd older than this plat has no exec route: upgrade the daemon",
    )
