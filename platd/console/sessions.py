"""What the daemon keeps of each console session, in memory: its blocks, uploads and tickets.

A console session belongs to one browser session (the sign-in cookie): a reload finds it again
and the page replays its blocks. It outlives its websocket by ``GRACE`` seconds, so a reload
or a dropped connection loses nothing, and a command running meanwhile goes on. Everything is
bounded: blocks per session, output per block, uploads per session and their size, sessions
per daemon. Websockets are opened with a single-use ticket (a cookie-authenticated POST gets
one), so no token or session id is ever in a URL. Pure: ``now`` comes from the caller.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from platd.spec.errors import InvalidInput

MAX_BLOCKS = 200  # the oldest blocks are dropped past this
MAX_BLOCK_OUTPUT = 512 * 1024  # characters of output kept per block; the rest is cut
MAX_SESSION_OUTPUT = 4 * 1024 * 1024  # kept per session: the oldest ended blocks go first
MAX_UPLOADS = 16
MAX_UPLOAD = 256 * 1024  # bytes per uploaded file (a manifest, a .env file)
MAX_SESSIONS = 1000
MAX_PANELS = 4  # streams detached into side panels at once
GRACE = 10 * 60.0  # seconds a session is kept without a page attached
TICKET_TTL = 30.0
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CUT = "[output cut: a block keeps {} KiB; run the command again with narrower arguments]\n"


@dataclass
class Block:
    id: int
    line: str
    chunks: list[tuple[str, str]] = field(default_factory=list)
    code: int | None = None
    size: int = 0
    cut: bool = False

    def add(self, stream: str, text: str) -> str | None:
        """Keep ``text``; what to send on (None: over the limit, or the block has ended)."""
        if self.cut or self.code is not None:
            return None
        if self.size + len(text) > MAX_BLOCK_OUTPUT:
            self.cut = True
            text = CUT.format(MAX_BLOCK_OUTPUT // 1024)
            stream = "err"
        self.size += len(text)
        self.chunks.append((stream, text))
        return text

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "code": self.code,
                "out": [[s, t] for s, t in self.chunks]}


@dataclass(eq=False)
class ConsoleSession:
    id: str
    web_session: str
    user_id: str
    touched: float
    blocks: list[Block] = field(default_factory=list)
    uploads: dict[str, str] = field(default_factory=dict)
    attached: int = 0  # open websockets
    running: Block | None = None
    panels: dict[int, Block] = field(default_factory=dict)  # detached, still running
    state: dict[str, Any] = field(default_factory=dict)  # the runner's settings, token
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    ended: bool = False
    _next: int = 1

    def start(self, line: str) -> Block:
        if self.running is not None:
            raise InvalidInput("a command is still running in this console",
                               hint="wait for it, or press Ctrl-C to stop it")
        block = Block(self._next, line)
        self._next += 1
        self.blocks.append(block)
        del self.blocks[:-MAX_BLOCKS]
        self.running = block
        self.emit({"type": "block", "id": block.id, "line": line})
        return block

    def refuse(self, line: str, lines: list[str], code: int) -> Block:
        """A block for a line that was not run: its refusal and exit code."""
        block = self.start(line)
        for text in lines:
            self.write(block, "err", text + "\n")
        self.finish(block, code)
        return block

    def write(self, block: Block, stream: str, text: str) -> None:
        sent = block.add(stream, text)
        if sent is not None:
            self.emit({"type": "out", "id": block.id, "stream": stream, "text": sent})
            if sum(b.size for b in self.blocks) > MAX_SESSION_OUTPUT:
                self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Drop ended blocks, oldest first, until the session's output fits its bound (what
        a reload replays stays a few MiB whatever ran)."""
        total = sum(b.size for b in self.blocks)
        for old in [b for b in self.blocks if b.code is not None]:
            if total <= MAX_SESSION_OUTPUT:
                break
            self.blocks.remove(old)
            total -= old.size

    def finish(self, block: Block, code: int) -> None:
        """The block's end, once (a stopped command is ended at once; what its thread says
        after that is dropped)."""
        if block.code is not None:
            return
        block.code = code
        if self.running is block:
            self.running = None
        self.panels.pop(block.id, None)
        self.emit({"type": "end", "id": block.id, "code": code})

    def detach(self) -> Block:
        """Move the running command into a side panel: it goes on streaming there (and in
        its block), and the prompt is free for the next command."""
        block = self.running
        if block is None:
            raise InvalidInput("no command is running to detach",
                               hint="start a stream first, e.g. logs --workload web --follow")
        if "tty" in self.state:
            raise InvalidInput("an exec session cannot be detached",
                               hint="leave it with Ctrl-]")
        if len(self.panels) >= MAX_PANELS:
            raise InvalidInput(f"{MAX_PANELS} panels are already open",
                               hint="close one (its x button) first")
        self.panels[block.id] = block
        self.running = None
        self.emit({"type": "detached", "id": block.id, "line": block.line})
        return block

    def reattach(self, block_id: int) -> Block:
        """Put a side panel's stream back into the transcript: it becomes the running
        command again, last in the transcript (as a reload replays it), Ctrl-C stops it."""
        block = self.panels.get(block_id)
        if block is None:
            raise InvalidInput("that panel's stream has ended or is not open",
                               hint="only a panel that is still streaming can go back")
        if self.running is not None:
            raise InvalidInput("a command is running in the transcript",
                               hint="wait for it, stop it (Ctrl-C) or move it to a panel "
                               "(Ctrl-Z) first")
        del self.panels[block_id]
        self.running = block
        if block in self.blocks:
            self.blocks.remove(block)
        self.blocks.append(block)
        self.emit({"type": "reattached", "id": block.id, "line": block.line})
        return block

    def emit(self, message: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(message)

    def upload(self, name: str, data: bytes) -> None:
        if not UPLOAD_NAME.match(name):
            raise InvalidInput(f"{name[:100]!r} is not a file name the console keeps",
                               hint="name files with letters, digits, '.', '_' and '-' "
                               "(e.g. plat.toml, prod.env)")
        if len(data) > MAX_UPLOAD:
            raise InvalidInput(f"{name} is larger than the {MAX_UPLOAD // 1024} KiB limit",
                               hint="upload a manifest or a .env file: small text files")
        if name not in self.uploads and len(self.uploads) >= MAX_UPLOADS:
            raise InvalidInput(f"this session already holds {MAX_UPLOADS} files",
                               hint="upload again under the name of a file you no longer need")
        from tui.cli.files import decode_text

        self.uploads[name] = decode_text(data, name, "uploaded file")

    def replay(self) -> dict[str, Any]:
        return {"type": "hello", "blocks": [b.wire() for b in self.blocks],
                "running": self.running.id if self.running else None,
                "panels": sorted(self.panels),
                "tty": self.running.id if self.running and "tty" in self.state else None,
                "files": sorted(self.uploads)}


@dataclass
class ConsoleSessions:
    grace: float = GRACE
    _by_web: dict[str, ConsoleSession] = field(default_factory=dict)
    _tickets: dict[str, tuple[str, float]] = field(default_factory=dict)

    def for_web(self, web_session: str, user_id: str, now: float) -> ConsoleSession:
        """The console session of a browser session (made on first use)."""
        s = self._by_web.get(web_session)
        if s is not None and s.user_id == user_id and not s.ended:
            s.touched = now
            return s
        if len(self._by_web) >= MAX_SESSIONS:
            self.reap(now)
            if len(self._by_web) >= MAX_SESSIONS:
                raise InvalidInput("too many console sessions are open on this host",
                                   hint="try again in a few minutes")
        s = ConsoleSession(secrets.token_urlsafe(16), web_session, user_id, now)
        self._by_web[web_session] = s
        return s

    def get(self, web_session: str) -> ConsoleSession | None:
        return self._by_web.get(web_session)

    def ticket(self, s: ConsoleSession, now: float) -> str:
        for t in [t for t, (_, exp) in self._tickets.items() if now >= exp]:
            del self._tickets[t]
        if len(self._tickets) >= 4 * MAX_SESSIONS:
            raise InvalidInput("too many console connections are being opened",
                               hint="try again in a minute")
        t = secrets.token_urlsafe(32)
        self._tickets[t] = (s.web_session, now + TICKET_TTL)
        return t

    def redeem(self, ticket: str, now: float) -> ConsoleSession | None:
        """The session a ticket was given for, once; None if unknown, used or expired."""
        found = self._tickets.pop(ticket, None)
        if found is None or now >= found[1]:
            return None
        s = self._by_web.get(found[0])
        return s if s is not None and not s.ended else None

    def end(self, s: ConsoleSession) -> None:
        s.ended = True
        s.emit({"type": "ended"})
        if self._by_web.get(s.web_session) is s:
            del self._by_web[s.web_session]

    def end_user(self, user_id: str) -> list[ConsoleSession]:
        gone = [s for s in self._by_web.values() if s.user_id == user_id]
        for s in gone:
            self.end(s)
        return gone

    def reap(self, now: float, alive: Callable[[str], bool] = lambda _: True,
             ) -> list[ConsoleSession]:
        """End the sessions no page has held for ``grace`` seconds (and nothing runs in), and
        those whose browser session is gone (``alive(web_session)`` False)."""
        gone = [s for s in self._by_web.values()
                if not alive(s.web_session)
                or (s.attached == 0 and s.running is None and not s.panels
                    and now - s.touched > self.grace)]
        for s in gone:
            self.end(s)
        return gone

    def all(self) -> list[ConsoleSession]:
        return list(self._by_web.values())
