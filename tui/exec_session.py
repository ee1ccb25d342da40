"""The client side of ``plat exec``: a websocket to platd, bridged to this terminal or pipe.

Imported only by the exec command. One ``select`` loop over the socket, stdin and a signal pipe
moves everything, and the websocket client (``_WebSocket``, RFC 6455, client side only) is
written on the standard library: ``plat exec`` pays for every module it imports on every run,
and importing asyncio or the websockets package costs about as much again as plat's own start
(docs/exec.md, "How it is built"). The server side is uvicorn's websockets implementation,
which the tests drive this client against. The framing is specified in
docs/exec.md (server side: ``platd/api/exec.py``).

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

import base64
import contextlib
import json
import os
import select
import signal
import socket
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from platd import __version__

try:
    # The built-in SHA-1 module: hashlib would load OpenSSL, 3 ms of every exec's start.
    from _sha1 import sha1 as _sha1
except ImportError:  # pragma: no cover - Python built without it
    from hashlib import sha1 as _sha1
from platd.spec.errors import DaemonUnreachable, PlatError, from_wire
from tui.render import exec_banner

STDIN, STDOUT, STDERR = 0, 1, 2
CHUNK = 64 * 1024
MAX_MESSAGE = 16 * 1024 * 1024
HIGH_WATER = 1024 * 1024  # unsent bytes at which plat stops reading stdin
CONNECT_TIMEOUT = 10.0
START_TIMEOUT = 120.0  # platd may have to wait for a busy Docker engine
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DETACH_AFTER = 3  # Ctrl-C presses without a TTY before plat stops waiting for the command


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


def exec_url(api: str, target: str) -> str:
    parts = urlsplit(api if "://" in api else f"http://{api}")
    scheme = "wss" if parts.scheme == "https" else "ws"
    env_path = "/".join(quote(p, safe="") for p in target.split("/"))
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/v1/envs/{env_path}/exec",
                       "", ""))


class _WebSocket:
    """A client websocket (RFC 6455) on a plain socket, for a ``select`` loop.

    Just what exec needs, on the standard library only: the handshake, masked frames out,
    frames in (fragments joined), ping answered, close handshake. No extensions or
    subprotocols. Non-blocking once open: ``send`` queues into ``unsent``, ``flush`` writes what
    the socket takes, ``receive`` returns the complete messages that arrived.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.unsent = bytearray()
        self.closed = False  # the connection is over (close frame or end of stream)
        self.early: list[str | bytes] = []  # messages read before ``receive`` was called
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._close_sent = False
        key = base64.b64encode(os.urandom(16)).decode()
        default_port = parts.port is None or parts.port == (443 if secure else 80)
        lines = [f"GET {parts.path or '/'} HTTP/1.1",
                 f"Host: {parts.netloc if not default_port else host}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._handshake(key)
        self.sock.setblocking(False)

    def _handshake(self, key: str) -> None:
        head = bytearray()
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(CHUNK)
            if not data or len(head) > 65536:
                raise ConnectionError("platd closed the connection during the websocket handshake")
            head += data
        raw, _, rest = bytes(head).partition(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in
                  (line.partition(":") for line in header_lines)}
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError):
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}") from None
        if status != 101:
            length = int(fields.get("content-length") or 0)
            body = bytearray(rest)
            while len(body) < length and (data := self.sock.recv(CHUNK)):
                body += data
            raise _refused(status, bytes(body))
        accept = base64.b64encode(_sha1((key + WS_GUID).encode()).digest()).decode()
        if fields.get("upgrade", "").lower() != "websocket" or fields.get(
            "sec-websocket-accept"
        ) != accept:
            raise ConnectionError("the server did not accept the websocket upgrade")
        self._buffer += rest

    def receive(self) -> list[str | bytes]:
        """The complete messages that arrived; sets ``closed`` at the end of the connection."""
        messages, self.early = self.early, []
        while not self.closed:
            data = self._recv()
            if data is None:
                break
            if not data:
                self.closed = True
            self._buffer += data
            messages += self._parse()
            if not getattr(self.sock, "pending", lambda: 0)():  # TLS keeps decrypted bytes
                break
        return messages

    def send(self, message: str | bytes) -> None:
        if self._close_sent or self.closed:
            return
        if isinstance(message, str):
            self.unsent += _frame(OP_TEXT, message.encode())
        else:
            self.unsent += _frame(OP_BINARY, message)

    def flush(self) -> None:
        """Write what the socket takes now; the rest waits for the next writable ``select``."""
        while self.unsent:
            try:
                written = self.sock.send(self.unsent)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if _tls_would_block(e):
                    return
                self.unsent.clear()
                self.closed = True
                return
            del self.unsent[:written]

    def close(self) -> None:
        if not self._close_sent and not self.closed:
            self.unsent += _frame(OP_CLOSE, (1000).to_bytes(2, "big"))
            self._close_sent = True
        deadline = time.monotonic() + 1.0
        while self.unsent and not self.closed and time.monotonic() < deadline:
            select.select([], [self.sock], [], max(deadline - time.monotonic(), 0))
            self.flush()
        self.sock.close()

    def _recv(self) -> bytes | None:
        try:
            return self.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            return None if _tls_would_block(e) else b""

    def _parse(self) -> list[str | bytes]:
        messages: list[str | bytes] = []
        buf = self._buffer
        while len(buf) >= 2:
            fin, opcode, masked, size = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x80, buf[1] & 0x7F
            at = 2
            if size >= 126:
                width = 2 if size == 126 else 8
                if len(buf) < at + width:
                    break
                size, at = int.from_bytes(buf[at : at + width], "big"), at + width
            if size > MAX_MESSAGE:
                raise PlatError(f"platd sent a websocket frame of {size} bytes")
            mask = bytes(buf[at : at + 4]) if masked else b""
            at += len(mask)
            if len(buf) < at + size:
                break
            payload = bytes(buf[at : at + size])
            del buf[: at + size]
            if mask:
                payload = _masked(payload, mask)
            if opcode in (OP_TEXT, OP_BINARY):
                self._fragments, self._fragment_text = [payload], opcode == OP_TEXT
            elif opcode == OP_CONTINUATION:
                self._fragments.append(payload)
            elif opcode == OP_PING:
                self.unsent += _frame(OP_PONG, payload)
                continue
            elif opcode == OP_CLOSE:
                if not self._close_sent:  # answer with the same code, then the server hangs up
                    self.unsent += _frame(OP_CLOSE, payload[:2])
                    self._close_sent = True
                self.closed = True
                break
            else:
                continue  # pong, or an opcode from the future
            if fin:
                data, self._fragments = b"".join(self._fragments), []
                messages.append(data.decode() if self._fragment_text else data)
        return messages


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + _masked(payload, mask)


def _masked(data: bytes, mask: bytes) -> bytes:
    # XOR as one big integer: a 64 KiB chunk takes microseconds, a Python loop milliseconds.
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def connect(r: SessionRequest) -> _WebSocket:
    """The websocket to platd's exec route for ``r``; refusals of the upgrade become errors."""
    headers = {"User-Agent": f"plat/{__version__}"}
    if r.token:
        headers["Authorization"] = f"Bearer {r.token}"
    try:
        return _WebSocket(exec_url(r.api, r.target), headers)
    except OSError as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise DaemonUnreachable(
            f"cannot open an exec session with platd at {r.api}: {reason}",
            hint=["is the daemon running? start it with: platd serve",
                  "check the address: plat whoami shows which API is used"],
        ) from e


def start(ws: _WebSocket, r: SessionRequest, rows: int, cols: int, term: str) -> dict[str, Any]:
    """Send ``start`` and wait for ``started``: platd chooses the instance by the rules in
    docs/exec.md (a refusal, with ``details.instances`` when several are running, is raised)."""
    ws.send(json.dumps({
        "type": "start", "instance": r.instance, "workload": r.workload, "cmd": r.cmd,
        "tty": r.tty, "stdin": r.stdin, "rows": rows, "cols": cols, "term": term,
    }))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        ws.flush()
        want_write = [ws.sock] if ws.unsent else []
        select.select([ws.sock], want_write, [], max(deadline - time.monotonic(), 0))
        messages = ws.receive()
        if messages:
            reply = _decode(messages[0])
            ws.early = messages[1:]
            if reply.get("type") == "error":
                raise from_wire({"error": reply.get("error")}, 0)
            if reply.get("type") != "started":
                raise PlatError(f"platd answered the exec start with {reply.get('type')!r}")
            return reply
        if ws.closed:
            raise PlatError("platd closed the exec session before it started")
    raise PlatError(f"platd did not start the command within {START_TIMEOUT:g}s",
                    hint="the Docker engine may be overloaded; platd's log says more")


class _Session:
    def __init__(self, request: SessionRequest) -> None:
        self.request = request
        self.raw = request.tty and request.stdin and os.isatty(STDIN)
        self.ws: _WebSocket | None = None
        self.code: int | None = None
        self.interrupts = 0

    def run(self) -> int:
        ws = self.ws = self._connect()
        started = self._start(ws)
        line = json.dumps(started, sort_keys=True) if self.request.as_json else exec_banner(started)
        print(line, file=sys.stderr, flush=True)
        with _terminal(raw=self.raw), _signal_pipe(tty=self.request.tty) as wake:
            return self._bridge(ws, wake)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def _connect(self) -> _WebSocket:
        return connect(self.request)

    def _start(self, ws: _WebSocket) -> dict[str, Any]:
        rows, cols = _terminal_size() if self.request.tty else (0, 0)
        return start(ws, self.request, rows, cols, os.environ.get("TERM") or "xterm")

    def _bridge(self, ws: _WebSocket, wake: int) -> int:
        reading = self.request.stdin
        while True:
            for message in ws.receive():
                self._on_message(message)
            if self.code is not None:
                return self.code
            if ws.closed:
                raise PlatError("the connection to platd closed before the command ended",
                                hint="the daemon may have restarted; platd's log says more")
            ws.flush()
            sock = ws.sock.fileno()
            watch = [sock, wake] + ([STDIN] if reading and len(ws.unsent) < HIGH_WATER else [])
            readable, _, _ = select.select(watch, [sock] if ws.unsent else [], [])
            if wake in readable:
                with contextlib.suppress(BlockingIOError):
                    self._on_signals(ws, os.read(wake, 512))
                if self.code is not None:
                    return self.code
            if STDIN in readable and (data := _read(STDIN)) is not None:
                ws.send(bytes((STDIN,)) + data if data else json.dumps({"type": "eof"}))
                reading = bool(data)

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

    def _on_signals(self, ws: _WebSocket, received: bytes) -> None:
        for signum in received:
            if signum == signal.SIGWINCH:
                rows, cols = _terminal_size()
                if rows and cols:
                    ws.send(json.dumps({"type": "resize", "rows": rows, "cols": cols}))
            elif signum == signal.SIGINT:
                self.interrupts += 1
                if self.interrupts >= DETACH_AFTER:
                    self._say("plat: detached from the command; platd hangs it up")
                    self.code = 128 + signal.SIGINT
                    return
                ws.send(json.dumps({"type": "signal", "signal": "INT"}))
            else:  # SIGTERM, SIGHUP: end the session; platd hangs the command up
                self.code = 128 + signum
                return

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
def _signal_pipe(*, tty: bool) -> Iterator[int]:
    """A pipe that receives the number of each signal plat gets, as one byte, for ``select``.

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
        yield read_end
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(read_end)
        os.close(write_end)


def _noted(_signum: int, _frame: object) -> None:
    """Handled through the wakeup pipe; this only keeps the default action from running."""


def _tls_would_block(e: OSError) -> bool:
    # ssl is imported only for https; its "try again" errors are recognised by name.
    return type(e).__name__ in ("SSLWantReadError", "SSLWantWriteError")


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
