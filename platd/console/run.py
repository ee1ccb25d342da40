"""Run one console line: the CLI's runner, in a thread of its own, with the person's token.

The handler is the CLI's (``tui.cli.runner.execute``), so it parses, asks platd over HTTP and
fails exactly as ``plat`` does in a terminal, with the same words; only its ``Ctx`` differs
(``ConsoleCtx``): what it writes goes to the session's block as it is written, the files it
names come from the session's uploads (never the host's disk), nobody answers a prompt (so
``--yes`` is asked for, as in a script), and Ctrl-C in the page sets its cancel event. Each
command runs in a thread of its own, not the event loop's small shared pool, because a follow
(``logs --follow``) may run for hours.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from platd.spec.errors import InvalidInput
from tui.cli.context import ERR, OUT
from tui.cli.options import ParserExit
from tui.cli.runner import CANCELLED, execute, parse
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx

if TYPE_CHECKING:
    from pathlib import Path

    from platd.console.sessions import Block, ConsoleSession
    from tui.exec_session import SessionRequest


DETACH = "\x1d"  # Ctrl-]: leaves an exec session from the page, as telnet's escape
ELSEWHERE = -1000  # from ``local``: the instance is on another host, use the exec websocket
LocalExec = Callable[..., Awaitable[int | None]]  # platd.api.console_exec.run, bound


class ConsoleCtx(TranscriptCtx):
    """``on_tty(kind, value)``: an exec session with a TTY opened (``"open"``, the session),
    wrote (``"out"``, text) or ended (``"close"``), for the page's terminal."""

    def __init__(self, settings: FixedSettings, uploads: dict[str, str],
                 cancel: threading.Event, on_write: Callable[[str, str], None],
                 on_tty: Callable[[str, Any], None] | None = None,
                 size: tuple[int, int] = (24, 80),
                 local: Callable[[SessionRequest], int | None] | None = None) -> None:
        super().__init__(settings, cancel=cancel, on_write=on_write)
        self._uploads = uploads
        self._on_tty = on_tty
        self._size = size
        self._local = local

    @property
    def terminal_input(self) -> bool:
        return self._on_tty is not None  # the page's terminal: exec -t gets a real TTY

    def attach(self, request: SessionRequest) -> int:
        """The exec session, its bytes to and from the page's terminal: served in platd's
        own loop (``local``, see ``platd.api.console_exec``), or, for an instance on another
        host, over platd's exec websocket (as ``plat exec`` opens it, with this person's
        token)."""
        import codecs

        from tui.pane_session import PaneSession

        if self._on_tty is None:
            return super().attach(request)
        if self._local is not None:
            code = self._local(request)
            if code != ELSEWHERE:
                if code is None:
                    self.note("left the exec session (Ctrl-]); platd hung the command up")
                    return CANCELLED
                return code
        rows, cols = self._size
        pane = PaneSession(request, rows, cols)
        started = pane.open()
        on_tty = self._on_tty
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        instance = started.get("instance", {})
        self.note(f"exec session on instance {instance.get('id', '?')} "
                  f"({instance.get('workload', '?')}); Ctrl-] leaves it")
        # With stdin the page's keys go to the session; with a TTY its output is the page's
        # screen (not kept in the block), without one it is the block's output as usual.
        if request.stdin:
            on_tty("open", pane)
        output = ((lambda data: on_tty("out", data)) if request.tty
                  else (lambda data: self.write(OUT, decoder.decode(data))))
        try:
            code = pane.pump(output, lambda text: self.note(text))
        finally:
            if request.stdin:
                on_tty("close", None)
        if code is None:
            self.note("left the exec session (Ctrl-]); platd hung the command up")
            return CANCELLED
        return code

    def write(self, stream: str, text: str) -> None:
        # Nothing is kept here: the session's block keeps it (bounded).
        if self._on_write is not None:
            self._on_write(stream, text)

    def read_text(self, path: Path, what: str, limit: int, hint: str) -> str:
        name = str(path)
        text = self._uploads.get(name)
        if text is None:
            files = ", ".join(sorted(self._uploads)) or "none yet"
            raise InvalidInput(
                f"no uploaded file named {name} in this console session (files: {files})",
                hint=f"upload {name} with the Upload button first; the console never reads "
                "the host's disk")
        if len(text.encode()) > limit:
            raise InvalidInput(f"the {what} {name} is larger than the {limit // 1024} KiB "
                               "limit", hint=hint)
        return text


def settings_for(s: ConsoleSession, api: str, token: str) -> FixedSettings:
    """The session's settings with this daemon and a valid token; ``plat use`` keeps its
    target in them from one command to the next."""
    settings = s.state.get("settings")
    if not isinstance(settings, FixedSettings):
        settings = FixedSettings(api, token, where="this console session")
        s.state["settings"] = settings
    settings.save({**settings.load(), "api": api, "token": token})
    return settings


async def run_line(s: ConsoleSession, block: Block, words: list[str], settings: FixedSettings,
                   cancel: threading.Event, size: tuple[int, int] = (24, 80),
                   local_exec: LocalExec | None = None) -> int:
    """Run ``words`` as ``block`` of ``s``; its exit code once the command has finished.
    An exec session's TTY output goes to the page live (``tty-bytes``, sent as a binary
    message), not into the block.

    ``local_exec`` (``platd.api.console_exec.run`` with the daemon's parts bound) serves an
    exec session on this loop: the page's keys reach the process and its output the page
    without crossing a thread or another socket; the command's thread only waits for it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def on_write(stream: str, text: str) -> None:
        loop.call_soon_threadsafe(s.write, block, stream, text)

    def tty(kind: str, value: Any) -> None:
        if kind == "open":
            s.state["tty"] = value
            s.emit({"type": "tty", "id": block.id})
        elif kind == "out":
            if value:
                s.emit({"type": "tty-bytes", "id": block.id, "data": value})
        else:
            s.state.pop("tty", None)

    def on_tty(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(tty, kind, value)

    def local(request: SessionRequest) -> int | None:  # in the command's thread
        assert local_exec is not None
        return asyncio.run_coroutine_threadsafe(
            _exec_here(s, block, request, size, local_exec), loop).result()

    def work() -> None:
        ctx = ConsoleCtx(settings, s.uploads, cancel, on_write, on_tty, size,
                         local if local_exec is not None else None)
        try:
            try:
                code = execute(parse(words, ctx), ctx)
            except ParserExit as e:
                code = e.code
        except Exception as e:  # never a traceback in the page: a plain error and exit 1
            on_write("err", f"error: the command failed inside the console: {type(e).__name__}\n")
            code = 1
        if cancel.is_set() and code == 0:
            code = CANCELLED
        loop.call_soon_threadsafe(_settle, done, code)

    threading.Thread(target=work, name=f"console-{block.id}", daemon=True).start()
    return await done


def _settle(done: asyncio.Future[int], code: int) -> None:
    if not done.done():
        done.set_result(code)


async def _exec_here(s: ConsoleSession, block: Block, request: SessionRequest,
                     size: tuple[int, int], local_exec: LocalExec) -> int | None:
    """One exec session of ``block`` served on this loop; its code, None if the page left it,
    ``ELSEWHERE`` for an instance on another host. ``started(session, body)`` gets the object
    the page's keys go to (``send``, ``resize``, ``detach``, as a ``PaneSession``)."""
    import codecs

    decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in range(3)]
    opened: list[Any] = []

    def started(bridge: Any, body: dict[str, Any]) -> None:
        instance = body.get("instance") or {}
        s.write(block, ERR, f"exec session on instance {instance.get('id', '?')} "
                f"({instance.get('workload', '?')}); Ctrl-] leaves it\n")
        # With stdin the page's keys go to the session; with a TTY its output is the page's
        # screen (not kept in the block), without one it is the block's output as usual.
        if request.stdin:
            opened.append(bridge)
            s.state["tty"] = bridge
            s.emit({"type": "tty", "id": block.id})

    def output(channel: int, data: bytes) -> None:
        if request.tty:  # the bytes as they came: the page's terminal decodes them
            if data:
                s.emit({"type": "tty-bytes", "id": block.id, "data": data})
            return
        text = decoders[channel % 3].decode(data)
        if text:
            s.write(block, ERR if channel == 2 else OUT, text)

    def notice(text: str) -> None:
        s.write(block, ERR, text + "\n")

    try:
        return await local_exec(request, size, started, output, notice)
    finally:
        if opened and s.state.get("tty") is opened[0]:
            s.state.pop("tty", None)
