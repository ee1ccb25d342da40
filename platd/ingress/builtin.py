"""The built-in data plane: an epoll loop that moves bytes with splice(2), never through Python.

Each accepted connection gets a backend (round-robin over the listener's backends at that
moment; a backend that refuses is skipped for the next one), an optional PROXY v2 header, and
two pipes: client -> pipe -> backend and backend -> pipe -> client. ``os.splice`` moves data
between the sockets and the pipes inside the kernel, so the Python work is per readiness event,
not per byte. Pipes are enlarged (F_SETPIPE_SZ) so one event moves up to ``PIPE_SIZE`` bytes, and
reused across connections.

The loop runs in its own thread (``Engine``), apart from platd's asyncio loop, and listens with
SO_REUSEPORT so several engines may share a port (``workers`` > 1 starts more, each in a process
of its own, to use more than one core). A configuration change is handed to the loop through a
queue and a wake-up pipe: new listeners open, removed ones close, and backend sets are swapped.
Connections already established keep their backend until either side closes: that is draining.

With several engines (processes) a change is applied by each at its own moment. Where that
shows, ``apply(..., hold=True)`` leaves a listener not accepting until ``release``: its
connections wait in the kernel's accept queue (the socket stays open, so nothing is reset), and
the driver releases once every engine has the change (builtin_driver.py says why and when).
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import fcntl
import logging
import os
import queue
import random
import select
import socket
import struct
import termios
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import cast

from platd.ingress.model import ApplyResult, Backend, IngressConfig, Listener
from platd.spec import proxy_v2

log = logging.getLogger("platd.ingress")

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20  # the most an unprivileged process may ask for by default
POOL_MAX = 256  # idle pipe pairs kept for reuse
ACCEPT_BATCH = 64
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
EV_IN, EV_OUT, EV_ERR = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR | select.EPOLLHUP
EV_RDHUP = select.EPOLLRDHUP
EV_READ = EV_IN | EV_RDHUP  # what a socket whose data we want is watched for
EV_IN_ANY = EV_IN | EV_ERR | EV_RDHUP
# A read of fewer bytes than a pipe has slots cannot have filled the pipe (each slot holds one
# byte at least), so it took everything the socket held. Lowered to a default pipe's 16 slots
# if enlarging a pipe is ever refused.
_slots = [PIPE_SIZE // 4096]
_RETRY = (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH,
          errno.ECONNRESET, errno.EADDRNOTAVAIL)


def open_listener(lst: Listener) -> socket.socket:
    """Bind and listen; IPv6 listeners are v6-only, so IPv4 is reachable only when asked."""
    fam = socket.AF_INET6 if lst.family == "ipv6" else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Inherited by accepted sockets: bytes are forwarded as they come, never held back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((lst.address, lst.port))
        sock.listen(4096)
    except BaseException:
        sock.close()
        raise
    return sock


def _drained(fd: int, n: int) -> bool:
    """Whether the socket has no byte left to read (after a read of ``n``)."""
    if n >= PIPE_SIZE:
        return False
    try:
        left = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return False
    return int(left) == 0


def _connected(s: _socket.socket) -> bool:
    try:
        s.getpeername()
    except OSError:
        return False
    return True


_splice = os.splice


def _flush(f: _Flow) -> None:
    """Move what the flow's pipe holds to its destination; pass the half-close on after it."""
    pending = f.pending
    if pending:
        pr, dst = f.pr, f.dst.fd
        try:
            while pending:
                pending -= _splice(pr, dst, pending, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            return  # dst is full: wait for EPOLLOUT on it
        finally:
            f.pending = pending
    if f.eof and not f.done:
        conn = f.src.conn
        other = conn.down if f is conn.up else conn.up
        if other is None or not other.done:
            with contextlib.suppress(OSError):
                f.dst.sock.shutdown(socket.SHUT_WR)  # pass the half-close on
        # else both directions are over: the close that follows sends the FIN.
        f.done = True


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        _slots[0] = 16
    return r, w


# Connections use the C socket type directly: socket.socket's Python-level __init__ and close
# are measurable per connection, and nothing here needs what they add.
_RawSocket = _socket.socket
_NEW_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
_STREAM = socket.SOCK_STREAM
_IPPROTO_TCP, _TCP_NODELAY, _EINPROGRESS = socket.IPPROTO_TCP, socket.TCP_NODELAY, errno.EINPROGRESS
_Job = tuple[Callable[[], object], Future[object]]
_Key = tuple[str, str, int]
_Sockets = dict[_Key, socket.socket]
_UNWATCHED = -1  # _End.mask of a socket taken out of the epoll set (hung up, pipe still full)
LINGER_RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # l_onoff=1, l_linger=0: close sends RST


@dataclass(slots=True)
class _Route:
    listener: Listener
    sock: _socket.socket
    backends: tuple[Backend, ...]
    proxy_v2: bool
    # Where round-robin starts: at random, so that several worker processes (each with its own
    # counter, each given connections by the kernel's SO_REUSEPORT hash) do not all begin with
    # the first instance, which a trickle of new connections would then always reach.
    next: int = field(default_factory=lambda: random.randrange(1 << 30))
    family: int = socket.AF_INET6  # a plain int: socket.family builds an enum on every access
    held: bool = False  # out of the epoll set until ``release``: connections wait in its queue
    # (socket family, (host, port)) per backend, worked out once per change, not per connection.
    addrs: tuple[tuple[int, tuple[str, int]], ...] = ()


def _addrs(backends: tuple[Backend, ...]) -> tuple[tuple[int, tuple[str, int]], ...]:
    return tuple((socket.AF_INET6 if ":" in b.host else socket.AF_INET, (b.host, b.port))
                 for b in backends)


@dataclass(slots=True, eq=False)
class _End:
    """One socket of a connection, and the flows it reads for and writes from."""

    conn: _Conn
    sock: _socket.socket
    fd: int
    reads: _Flow | None = None
    writes: _Flow | None = None
    mask: int = 0

    def want(self) -> int:
        """Epoll interest: read while our outgoing pipe is empty, write while the other has data."""
        mask = 0
        r, w = self.reads, self.writes
        if r is not None and not r.eof and not r.pending:
            mask |= EV_READ
        if w is not None and w.pending:
            mask |= EV_OUT
        return mask


@dataclass(slots=True, eq=False)
class _Flow:
    """One direction of a connection: src -> pipe -> dst."""

    src: _End
    dst: _End
    pr: int
    pw: int
    pending: int = 0
    eof: bool = False
    done: bool = False


@dataclass(slots=True, eq=False)
class _Conn:
    client: _socket.socket
    backend: _socket.socket
    route: _Route
    tried: int
    header: bytes
    connected: bool = False
    up: _Flow | None = None
    down: _Flow | None = None
    c_end: _End | None = None
    b_end: _End | None = None
    pipes: list[tuple[int, int]] = field(default_factory=list)


class Engine:
    """One epoll loop in one thread. ``apply`` may be called from any other thread."""

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ep.register(self._wake_r, EV_IN)
        self._routes: dict[tuple[str, str, int], _Route] = {}
        self._by_listen_fd: dict[int, _Route] = {}
        self._socks: dict[int, _End] = {}  # both socket fds of every connection
        self._pool: list[tuple[int, int]] = []
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- control (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ingress-engine", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], object]) -> Future[object]:
        """Run ``fn`` on the loop thread between events; the future has its result."""
        fut: Future[object] = Future()
        self._jobs.put((fn, fut))
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")
        return fut

    def apply(self, config: IngressConfig, sockets: _Sockets, hold: bool = False) -> set[_Key]:
        """Swap in ``config``; ``sockets`` holds already bound sockets for new listeners.

        With ``hold``, a listener whose new backend set shares no backend with its old one
        (typically: none before, the first instance now) stops accepting until ``release``.
        Returns the keys of the listeners held, from this change or an earlier one."""
        return cast(set[_Key], self.call(lambda: self._apply(config, sockets, hold)).result())

    def release(self) -> Future[object]:
        """Accept again on held listeners (what queued meanwhile goes to the new backends)."""
        return self.call(self._release)

    def listening(self) -> set[tuple[str, str, int]]:
        return set(self._routes)

    def stop(self) -> None:
        def _stop() -> None:
            self._stopping = True

        if self._thread is not None and self._thread.is_alive():
            self.call(_stop).result(timeout=10)
            self._thread.join(timeout=10)
        self._close_all()

    @property
    def connections(self) -> int:
        return len({id(e.conn) for e in self._socks.values()})

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        poll = self._ep.poll
        socks = self._socks
        listeners = self._by_listen_fd
        wake = self._wake_r
        event, finish_connect, accept = self._event, self._finish_connect, self._accept
        while not self._stopping:
            try:
                events = poll(-1, 1024)
            except InterruptedError:
                continue
            for fd, ev in events:
                end = socks.get(fd)
                if end is not None:
                    conn = end.conn
                    if conn.connected:
                        event(end, ev)
                    else:
                        finish_connect(conn, ev)
                elif fd in listeners:
                    accept(listeners[fd])
                elif fd == wake:
                    self._run_jobs()

    def _run_jobs(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        while True:
            try:
                fn, fut = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed back to the caller
                fut.set_exception(e)

    def _apply(self, config: IngressConfig, sockets: _Sockets, hold: bool) -> set[_Key]:
        wanted = config.by_key()
        for key in list(self._routes):
            if key not in wanted:
                route = self._routes.pop(key)
                self._by_listen_fd.pop(route.sock.fileno(), None)
                with contextlib.suppress(OSError):
                    self._ep.unregister(route.sock)
                route.sock.close()
        for key, lst in wanted.items():
            existing = self._routes.get(key)
            if existing is not None:
                if (hold and not existing.held and lst.backends
                        and not set(lst.backends) & set(existing.backends)):
                    # Another engine may still be on the old set, which refuses or reaches
                    # instances this one no longer uses: accept once all have this one.
                    self._by_listen_fd.pop(existing.sock.fileno(), None)
                    with contextlib.suppress(OSError):
                        self._ep.unregister(existing.sock.fileno())
                    existing.held = True
                existing.listener, existing.backends = lst, lst.backends
                existing.addrs = _addrs(lst.backends)
                existing.proxy_v2 = lst.proxy_v2
                continue
            sock = sockets.get(key)
            if sock is None:
                continue  # could not be bound; the driver reported it
            route = _Route(lst, sock, lst.backends, lst.proxy_v2, family=int(sock.family),
                           addrs=_addrs(lst.backends))
            self._routes[key] = route
            self._by_listen_fd[sock.fileno()] = route
            self._ep.register(sock.fileno(), EV_IN)
        return {key for key, route in self._routes.items() if route.held}

    def _release(self) -> None:
        for route in self._routes.values():
            if route.held:
                route.held = False
                self._by_listen_fd[route.sock.fileno()] = route
                self._ep.register(route.sock.fileno(), EV_IN)

    # --- connections -------------------------------------------------------------------------

    def _accept(self, route: _Route) -> None:
        sock = route.sock
        raw_accept = sock._accept  # type: ignore[attr-defined]  # no wrapper object
        family = route.family
        dial = self._dial
        for _ in range(ACCEPT_BATCH):
            try:
                fd, peer = raw_accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("ingress: cannot accept on %s: %s", route.listener.bind, e)
                    return
                continue
            client = _RawSocket(family, _STREAM, 0, fd)
            if not route.addrs:
                client.close()  # nothing healthy behind this endpoint: refuse quickly
                continue
            client.setblocking(False)  # TCP_NODELAY comes from the listener
            header = b""
            if route.proxy_v2:
                header = proxy_v2.build(peer[:2], sock.getsockname()[:2])
            dial(_Conn(client, None, route, 0, header))  # type: ignore[arg-type]

    def _dial(self, conn: _Conn) -> None:
        """Connect to the next backend of the route; close the client when none is left."""
        route = conn.route
        addrs = route.addrs
        n = len(addrs)
        while conn.tried < n:
            fam, addr = addrs[route.next % n]
            route.next += 1
            conn.tried += 1
            s = _RawSocket(fam, _NEW_STREAM)
            s.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
            rc = s.connect_ex(addr)
            if rc == _EINPROGRESS or rc == 0:
                conn.backend = s
                fd = s.fileno()
                end = conn.b_end = _End(conn, s, fd)
                self._socks[fd] = end
                if rc == 0 or _connected(s):
                    # Local backends (loopback, the bridge) are usually connected by now:
                    # skip the round through epoll for "writable".
                    self._established(conn, registered=False)
                else:
                    self._ep.register(fd, EV_OUT)
                return
            s.close()
        conn.client.close()

    def _finish_connect(self, conn: _Conn, ev: int) -> None:
        s = conn.backend
        # Writable without an error means connected; only a failure costs a getsockopt.
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if ev & EV_ERR else 0
        if err == errno.EINPROGRESS:
            return
        if err or (ev & EV_ERR):
            err = err or errno.ECONNRESET
            self._socks.pop(s.fileno(), None)
            with contextlib.suppress(OSError):
                self._ep.unregister(s.fileno())
            s.close()
            if err in _RETRY:
                self._dial(conn)
            else:
                conn.client.close()
            return
        self._established(conn, registered=True)

    def _established(self, conn: _Conn, registered: bool) -> None:
        """The backend is connected: header, pipes, and both sockets watched for reading."""
        s = conn.backend
        conn.connected = True
        if conn.header:
            try:
                s.send(conn.header)  # 28 or 52 bytes into an empty send buffer
            except OSError:
                self._close(conn, clean=False)
                return
        pool = self._pool
        up_pipe = pool.pop() if pool else _pipe()
        down_pipe = pool.pop() if pool else _pipe()
        conn.pipes = [up_pipe, down_pipe]
        client = conn.client
        c_fd = client.fileno()
        c_end = conn.c_end = _End(conn, client, c_fd, None, None, EV_READ)
        b_end = conn.b_end
        assert b_end is not None
        b_end.mask = EV_READ
        # up: client -> backend; down: backend -> client
        c_end.reads = b_end.writes = conn.up = _Flow(c_end, b_end, up_pipe[0], up_pipe[1])
        b_end.reads = c_end.writes = conn.down = _Flow(b_end, c_end, down_pipe[0], down_pipe[1])
        self._socks[c_fd] = c_end
        ep = self._ep
        if registered:
            ep.modify(b_end.fd, EV_READ)
        else:
            ep.register(b_end.fd, EV_READ)
        ep.register(c_fd, EV_READ)
        # The client usually spoke already (a request): move it now, not one loop turn later.
        self._event(c_end, EV_IN)

    def _event(self, end: _End, ev: int) -> None:
        """Level-triggered: one splice in and one out per readiness, like recv+send would."""
        conn = end.conn
        changed = False  # whether epoll interest may have to change (backpressure, EOF)
        try:
            if ev & EV_OUT:
                f = end.writes
                if f is not None and f.pending:
                    _flush(f)
                    changed = True
            if ev & EV_IN_ANY:
                f = end.reads
                if f is not None and not f.pending and not f.eof:
                    n = _splice(end.fd, f.pw, PIPE_SIZE, None, None, SPLICE_FLAGS)
                    if n == 0:
                        f.eof = changed = True
                    else:
                        f.pending = n
                        if ev & EV_RDHUP and (n < _slots[0] or _drained(f.src.fd, n)):
                            # The peer's FIN came with these bytes and nothing is left: the
                            # half-close goes on now instead of after one more empty read.
                            f.eof = changed = True
                    _flush(f)
                    if f.pending:
                        changed = True
        except BlockingIOError:
            pass
        except OSError:
            self._close(conn, clean=False)
            return
        if not changed and not ev & EV_ERR:
            return
        up, down = conn.up, conn.down
        if up.done and down.done:  # type: ignore[union-attr]
            self._close(conn)
            return
        for e in (conn.c_end, conn.b_end):
            want = e.want()  # type: ignore[union-attr]
            mask = e.mask  # type: ignore[union-attr]
            if want != mask:
                if mask == _UNWATCHED:
                    if not want:
                        continue
                    self._ep.register(e.fd, want)  # type: ignore[union-attr]
                else:
                    self._ep.modify(e.fd, want)  # type: ignore[union-attr]
                e.mask = want  # type: ignore[union-attr]
        if ev & EV_ERR and not (end.mask & EV_IN_ANY or end.mask & EV_OUT):
            r = end.reads
            if not ev & select.EPOLLERR and r is not None and r.pending:
                # Hung up (the peer closed and we shut our side) while its last bytes still
                # wait in our pipe: not an error. EPOLLHUP cannot be masked, so stop watching
                # the socket until the other side has taken them, then read the rest.
                self._ep.unregister(end.fd)
                end.mask = _UNWATCHED
            else:
                self._close(conn, clean=False)  # nothing more can move through this socket

    def _close(self, conn: _Conn, clean: bool = True) -> None:
        socks = self._socks
        for s in (conn.client, conn.backend):
            if s is None:
                continue
            fd = s.fileno()
            if fd < 0:
                continue
            socks.pop(fd, None)
            # No epoll unregister: closing the only descriptor removes it from the set.
            if not clean:
                with contextlib.suppress(OSError):
                    # Pass a reset on instead of pretending the other side closed cleanly.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            s.close()
        pipes = conn.pipes
        if not pipes:
            return
        conn.pipes = []
        pool = self._pool
        up, down = conn.up, conn.down
        for pipe, flow in ((pipes[0], up), (pipes[1], down)):
            if clean and flow is not None and not flow.pending and len(pool) < POOL_MAX:
                pool.append(pipe)
            else:
                os.close(pipe[0])
                os.close(pipe[1])

    def _close_all(self) -> None:
        seen: set[int] = set()
        for end in list(self._socks.values()):
            if id(end.conn) not in seen:
                seen.add(id(end.conn))
                self._close(end.conn, clean=False)
        for route in self._routes.values():
            route.sock.close()
        self._routes.clear()
        self._by_listen_fd.clear()
        for r, w in self._pool:
            os.close(r)
            os.close(w)
        self._pool.clear()


def apply_locally(engine: Engine, config: IngressConfig,
                  hold: bool = False) -> tuple[ApplyResult, set[_Key]]:
    """Bind what is new (here, in the caller's thread, so errors are reported), then swap.

    Returns what could not be bound and the listeners held (see ``Engine.apply``)."""
    have = engine.listening()
    failed: dict[_Key, str] = {}
    sockets: _Sockets = {}
    for key, lst in config.by_key().items():
        if key in have:
            continue
        try:
            sockets[key] = open_listener(lst)
        except OSError as e:
            failed[key] = f"cannot listen on {lst.bind}: {e.strerror or e}"
    held = engine.apply(config, sockets, hold)
    return ApplyResult(failed), held
