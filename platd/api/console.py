"""The web console's HTTP side: its page, sign-in, uploads, tickets and the websocket.

- ``GET /console``: the sign-in form (no script) until the browser session is a person's, then
  the terminal page, with a strict Content-Security-Policy (``platd.console.page``).
- ``POST /console/signin`` (form: user name and password, or a token of theirs) and
  ``POST /console/signout``: the same HttpOnly, SameSite, Secure-where-possible session cookie
  as the device pages (``platd.auth.websessions``), CSRF token in every form.
- ``POST /console/ticket`` and ``POST /console/files?name=N`` (the session's CSRF token in
  ``X-CSRF-Token``, Origin checked): a single-use websocket ticket; an uploaded file.
- ``GET /console/ws?ticket=T``: the transcript's websocket, opened only with a fresh ticket
  from a page of this origin. JSON both ways: ``run``/``cancel``/``detach``/``reattach``/``ping``/
  ``stdin``/``resize`` in; ``hello`` (every block so far, to replay), ``block``/``out``/
  ``end``, ``detached`` (a stream moved to a side panel) and ``reattached`` (put back),
  ``tty``, ``pong``, ``ended`` out. An exec session's keys and its TTY's output are binary
  messages (their bytes, as they are: no JSON or UTF-8 decoding on the way of a keystroke).

Each line is checked (``platd.console.lines``) and run by the CLI's runner as the signed-in
person, with a short-lived token of their own made here (``platd.console.run``). When the
person's access changes (``Access.on_user_ended``), their console sessions end and what runs
in them is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from typing import Any

from litestar import Request, Response, Router, WebSocket, get, post, websocket
from litestar.datastructures import Cookie, State
from litestar.response import Redirect
from litestar.types.asgi_types import WebSocketResponseStartEvent

from platd.api import console_exec
from platd.api.access import Access
from platd.api.device import Form, _address, _secure
from platd.auth import pages
from platd.auth.websessions import COOKIE, WebSession
from platd.console import page
from platd.console.lines import parse_line
from platd.console.run import run_line, settings_for
from platd.console.sessions import MAX_UPLOAD, ConsoleSession, ConsoleSessions
from platd.services import people, tokens
from platd.spec.errors import PlatError, Unauthenticated
from tui.cli.runner import CANCELLED

log = logging.getLogger("platd.console")
TOKEN_TTL = 3600.0  # the console's token for a person: an hour, renewed while they work
RENEW_BELOW = 50 * 60.0  # a new token once less than this is left (a follow lasts up to that)
MAX_MESSAGE = 8 * 1024  # one websocket message from the page (a line is at most 4096)
MAX_QUEUED = 5000  # messages waiting for a slow page before it is cut off (it reattaches)
PING_EVERY = 20.0


def _access(request: Request[Any, Any, State]) -> Access:
    access: Access = request.app.state.access
    access.bind()
    return access


def _consoles(request: Request[Any, Any, State] | WebSocket[Any, Any, Any]) -> ConsoleSessions:
    state = request.app.state
    consoles: ConsoleSessions | None = state.get("consoles")
    if consoles is None:
        consoles = ConsoleSessions()
        state["consoles"] = consoles
        access: Access = state.access
        access.on_user_ended.append(lambda uid: _end_all(consoles.end_user(uid)))
    return consoles


def _end_all(gone: list[ConsoleSession]) -> None:
    for s in gone:
        for cancel in s.state.get("cancels", {}).values():
            cancel.set()
        tty = s.state.get("tty")
        if tty is not None:
            tty.detach()


def _origin_ok(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> bool:
    """The request comes from a page of this host: its Origin names this scheme and host."""
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if not origin or not host:
        return False
    scheme = "https" if request.url.scheme in ("https", "wss") else "http"
    return origin.rstrip("/") == f"{scheme}://{host}"


def _cookie(request: Request[Any, Any, Any], s: WebSession) -> Cookie:
    return Cookie(key=COOKIE, value=s.id, httponly=True, samesite="lax",
                  secure=_secure(request), path="/", max_age=15 * 60)


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    ws = ("wss://" if request.url.scheme == "https" else "ws://") + (
        request.headers.get("host") or "")
    # same-origin, not no-referrer: the page's own fetches must carry its Origin (checked)
    return {**pages.HEADERS, "Content-Security-Policy": page.csp(ws),
            "Referrer-Policy": "same-origin"}


def _signed_in(request: Request[Any, Any, State]) -> tuple[Access, WebSession | None]:
    access = _access(request)
    now = access.svc.clock.time()
    s = access.web.get(request.cookies.get(COOKIE), now)
    if s is not None and s.user_id is not None:
        s.expires_at = max(s.expires_at, now + access.web.ttl)  # kept while it is used
    return access, s


def _user(access: Access, s: WebSession | None) -> str | None:
    if s is None or s.user_id is None:
        return None
    user = people.get_user(access.svc, s.user_id)
    return user.name if user is not None else None


@get("/console", include_in_schema=False)
async def console_page(request: Request[Any, Any, State]) -> Response[str]:
    access, s = _signed_in(request)
    name = await asyncio.to_thread(_user, access, s)
    if s is None or name is None:
        fresh = s or access.web.new(access.svc.clock.time())
        return Response(page.sign_in(fresh.csrf), media_type="text/html; charset=utf-8",
                        headers=pages.HEADERS, cookies=[_cookie(request, fresh)])
    if not page.vendored():
        return Response(pages.page("The console is not installed", (
            "<p id=outcome>ghostty-web is missing from platd/console/static/vendor: run "
            "scripts/setup on this host.</p>")), status_code=503,
            media_type="text/html; charset=utf-8", headers=pages.HEADERS)
    return Response(page.console(s.csrf, name), media_type="text/html; charset=utf-8",
                    headers=_headers(request), cookies=[_cookie(request, s)])


def _sign_in_user(access: Access, data: dict[str, str]) -> str | None:
    secret = data.get("token", "").strip()
    if secret:
        try:
            principal = tokens.principal_for(access.svc, secret[:200])
        except PlatError:
            return None
        return principal.user_id  # a person's token; the admin's and org tokens name nobody
    user = people.sign_in(access.svc, data.get("name", "")[:100], data.get("password", "")[:1000])
    return user.id if user is not None else None


@post("/console/signin", include_in_schema=False, status_code=200)
async def console_signin(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    access = _access(request)
    now = access.svc.clock.time()
    s = access.web.get(request.cookies.get(COOKIE), now)
    origin = request.headers.get("origin")
    if s is None or not s.csrf_ok(data.get("csrf")) or (
            origin and origin != "null" and not _origin_ok(request)):
        return Response(pages.message("Please start again", "This form expired or did not "
                                      "come from this page. Open /console again."),
                        status_code=403, media_type="text/html; charset=utf-8",
                        headers=pages.HEADERS)
    key = f"signin:{_address(request)}"
    if access.failures.blocked(key, now) > 0:
        return Response(page.sign_in(s.csrf, "Too many wrong attempts from this address; "
                                     "wait a minute."), status_code=429,
                        media_type="text/html; charset=utf-8", headers=pages.HEADERS)
    uid = await asyncio.to_thread(_sign_in_user, access, data)
    if uid is None:
        access.failures.fail(key, now)
        return Response(page.sign_in(s.csrf, "Wrong user name or password, or not a valid "
                                     "token of a person (the admin token names nobody: sign "
                                     "in as a user)."),
                        status_code=401, media_type="text/html; charset=utf-8",
                        headers=pages.HEADERS)
    s = access.web.sign_in(s, uid, now)
    return Redirect("/console", status_code=303, cookies=[_cookie(request, s)])


@post("/console/signout", include_in_schema=False, status_code=200)
async def console_signout(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    access, s = _signed_in(request)
    if s is not None and s.csrf_ok(data.get("csrf")):
        consoles = _consoles(request)
        found = consoles.get(s.id)
        if found is not None:
            consoles.end(found)
            _end_all([found])
        access.web.end(s.id)
    return Redirect("/console", status_code=303)


def _api_session(request: Request[Any, Any, State]) -> tuple[Access, WebSession]:
    """The person's session of a script call: signed in, this origin, its CSRF header."""
    access, s = _signed_in(request)
    if s is None or s.user_id is None:
        raise Unauthenticated("this browser is not signed in to the console",
                              hint="open /console and sign in")
    if not _origin_ok(request) or not s.csrf_ok(request.headers.get("x-csrf-token")):
        raise Unauthenticated("this request did not come from the console page",
                              hint="reload /console")
    return access, s


@post("/console/ticket", include_in_schema=False, status_code=200)
async def console_ticket(request: Request[Any, Any, State]) -> dict[str, Any]:
    access, s = _api_session(request)
    consoles = _consoles(request)
    now = access.svc.clock.time()
    consoles.reap(now, lambda sid: access.web.get(sid, now) is not None)
    cs = consoles.for_web(s.id, s.user_id or "", now)
    return {"ticket": consoles.ticket(cs, now)}


@post("/console/files", include_in_schema=False, status_code=200,
      opt={"raw_body": True}, request_max_body_size=MAX_UPLOAD + 1)
async def console_upload(request: Request[Any, Any, State], name: str) -> dict[str, Any]:
    access, s = _api_session(request)
    cs = _consoles(request).for_web(s.id, s.user_id or "", access.svc.clock.time())
    cs.upload(name, await request.body())
    return {"files": sorted(cs.uploads), "name": name}


@get("/console/static/{path:path}", include_in_schema=False)
async def console_static(path: str) -> Response[bytes]:
    name = path.lstrip("/")
    media = page.FILES.get(name)
    if media is None or not (page.STATIC / name).is_file():
        return Response(b"not found\n", status_code=404, media_type="text/plain")
    body = await asyncio.to_thread((page.STATIC / name).read_bytes)
    return Response(body, media_type=media, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


# --- the websocket --------------------------------------------------------------------------


async def _deny(socket: WebSocket[Any, Any, Any], status: int, error: PlatError) -> None:
    body = json.dumps(error.to_wire()).encode()
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }
    await socket.send(start)
    await socket.send({"type": "websocket.http.response.body", "body": body, "more_body": False})


def _api_url(socket: WebSocket[Any, Any, Any]) -> str:
    """Where the runner reaches this daemon: the address this server listens on."""
    host, port = socket.scope.get("server") or ("127.0.0.1", 7400)
    if host in ("0.0.0.0", "", None):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


def _token(access: Access, s: ConsoleSession) -> str:
    """The person's console token, made (or renewed) here; never shown to anyone."""
    now = access.svc.clock.time()
    secret, expires = s.state.get("token"), s.state.get("token_expires", 0.0)
    if isinstance(secret, str) and expires - now > RENEW_BELOW:
        return secret
    user = people.get_user(access.svc, s.user_id)
    if user is None:
        raise Unauthenticated("this person no longer exists", hint="sign in again")
    with access.svc.store.write() as session:
        secret, _row = tokens.create_user_token(session, access.svc.clock, user,
                                                "web console", TOKEN_TTL)
    s.state["token"], s.state["token_expires"] = secret, now + TOKEN_TTL
    return secret


def _size(message: dict[str, Any]) -> tuple[int, int]:
    rows, cols = message.get("rows"), message.get("cols")
    if isinstance(rows, int) and isinstance(cols, int) and 0 < rows <= 500 and 0 < cols <= 1000:
        return rows, cols
    return 24, 80


async def _run(access: Access, s: ConsoleSession, api: str, text: str,
               size: tuple[int, int], relaying: bool) -> None:
    from tui.render.errors import error_lines

    try:
        line = parse_line(text)
    except PlatError as e:
        s.refuse(text, error_lines(e), e.exit_code)
        return
    if line is None:
        return
    block = s.start(text)
    cancel = threading.Event()
    cancels: dict[int, threading.Event] = s.state.setdefault("cancels", {})
    cancels[block.id] = cancel
    try:
        secret = await asyncio.to_thread(_token, access, s)
        local = functools.partial(console_exec.run, access, relaying)
        code = await run_line(s, block, line.words, settings_for(s, api, secret), cancel, size,
                              local)
    except PlatError as e:
        for piece in error_lines(e):
            s.write(block, "err", piece + "\n")
        code = e.exit_code
    except Exception:
        log.exception("a console command failed")
        s.write(block, "err", "error: the console could not run this command\n")
        code = 1
    cancels.pop(block.id, None)
    s.finish(block, code)


@websocket("/console/ws", include_in_schema=False)
async def console_ws(socket: WebSocket[Any, Any, Any]) -> None:
    access: Access = socket.app.state.access
    access.bind()
    consoles = _consoles(socket)
    if not _origin_ok(socket):
        await _deny(socket, 403, Unauthenticated("the console's websocket only answers its page",
                                                 hint="open /console"))
        return
    s = consoles.redeem(socket.query_params.get("ticket", ""), access.svc.clock.time())
    if s is None:
        await _deny(socket, 401, Unauthenticated("the console ticket is unknown, used or "
                                                 "expired", hint="reload /console"))
        return
    await socket.accept()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def listener(message: dict[str, Any]) -> None:
        if queue.qsize() >= MAX_QUEUED:  # the page cannot keep up: it reattaches and replays
            queue.put_nowait(None)
            return
        queue.put_nowait(message)

    s.attached += 1
    s.listeners.append(listener)
    sender = asyncio.create_task(_send(socket, queue), name="console-send")
    pinger = asyncio.create_task(_ping(queue), name="console-ping")
    api = _api_url(socket)
    try:
        queue.put_nowait(s.replay())
        receiver = asyncio.create_task(_receive(socket, access, s, api), name="console-recv")
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
    finally:
        s.attached -= 1
        s.touched = access.svc.clock.time()
        with contextlib.suppress(ValueError):
            s.listeners.remove(listener)
        for task in (sender, pinger):
            task.cancel()
        await asyncio.gather(sender, pinger, return_exceptions=True)
        with contextlib.suppress(Exception):
            await socket.close()


async def _send(socket: WebSocket[Any, Any, Any],
                queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    while (message := await queue.get()) is not None:
        if message.get("type") == "tty-bytes":
            # A TTY's output as a binary message, its bytes as they came: no JSON, no UTF-8
            # decoding here (the page's terminal decodes a character split across two).
            await socket.send_bytes(message["data"])
            continue
        await socket.send_text(json.dumps(message))
        if message.get("type") == "ended":
            return


async def _ping(queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    while True:
        await asyncio.sleep(PING_EVERY)
        queue.put_nowait({"type": "ping"})


async def _receive(socket: WebSocket[Any, Any, Any], access: Access, s: ConsoleSession,
                   api: str) -> None:
    running: set[asyncio.Task[None]] = set()
    while True:
        event = await socket.receive()
        if event["type"] == "websocket.disconnect":
            return
        keys = event.get("bytes")
        if isinstance(keys, bytes):  # a binary message: keys for the exec session's TTY
            if len(keys) <= MAX_MESSAGE and (tty := s.state.get("tty")) is not None:
                tty.send(keys)
            continue
        raw = event.get("text")
        if not isinstance(raw, str) or len(raw) > MAX_MESSAGE:
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        kind = message.get("type")
        if kind == "run" and isinstance(message.get("line"), str):
            if s.running is not None:
                s.emit({"type": "busy", "id": s.running.id})
                continue
            task = asyncio.create_task(_run(access, s, api, message["line"], _size(message),
                                            socket.app.state.get("cluster") is not None))
            # Kept by the session, not this socket: a reload must not stop the command.
            running.add(task)
            task.add_done_callback(running.discard)
            s.state.setdefault("tasks", set()).add(task)
            task.add_done_callback(s.state["tasks"].discard)
        elif kind == "cancel":
            # A panel's close button names its block; Ctrl-C at the prompt, the running one.
            which = message.get("id")
            if not isinstance(which, int):
                which = s.running.id if s.running is not None else None
            cancel = s.state.get("cancels", {}).get(which)
            tty = s.state.get("tty")
            if tty is not None and which == (s.running.id if s.running else None):
                tty.detach()  # the exec session ends and says so itself
            elif cancel is not None and which is not None:
                cancel.set()
                # Ended now, not when a long poll of the follow comes back (up to a minute).
                block = s.panels.get(which) or (
                    s.running if s.running is not None and s.running.id == which else None)
                if block is not None:
                    s.write(block, "err", "stopped\n")
                    s.finish(block, CANCELLED)
        elif kind == "detach":
            try:
                s.detach()
            except PlatError as e:
                s.emit({"type": "notice", "text": e.message})
        elif kind == "reattach" and isinstance(message.get("id"), int):
            try:
                s.reattach(message["id"])
            except PlatError as e:
                s.emit({"type": "notice", "text": e.message})
        elif kind == "stdin" and isinstance(message.get("data"), str):
            if (tty := s.state.get("tty")) is not None:
                tty.send(message["data"].encode())
        elif kind == "resize":
            if (tty := s.state.get("tty")) is not None:
                tty.resize(*_size(message))
        elif kind == "ping":
            s.emit({"type": "pong"})


router = Router(path="/", route_handlers=[
    console_page, console_signin, console_signout, console_ticket, console_upload,
    console_static, console_ws,
])
