"""The exec websocket: one session bridges a client to a process inside a running instance.

``GET /v1/envs/{org}/{project}/{app}/{env}/exec`` upgrades to a websocket, authenticated by the
same bearer token as every other route (the ``Authorization`` header of the upgrade request),
before the upgrade is accepted: a missing or invalid token is answered 401 with no websocket.
``POST .../exec/sessions`` starts the process first and the websocket attaches to it
(``?session=ID``): the client imports its websocket library while the command already runs
(``platd.api.exec_waiting``).
The framing is specified in docs/exec.md: a JSON ``start`` message, binary frames whose first
byte names the stream (0 stdin, 1 stdout, 2 stderr), JSON control messages (``resize``, ``eof``,
``signal``), and a final JSON ``exit`` message. Errors are sent as ``{"type": "error", "error":
<the API's wire error>}`` so the CLI exits with the same code as for any other refusal.

Rules (who may exec where, the audit events) live in ``platd.services.exec``; this module only
moves bytes between the socket and the runtime's ``ExecSession``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any, Literal

import msgspec
from litestar import Request, Router, WebSocket, delete, get, post, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.types.asgi_types import WebSocketResponseStartEvent

from platd.api.access import Access, LiveSession
from platd.api.deps import Caller, Cluster, Svc, bearer_token, target
from platd.api.exec_waiting import Waiting, WaitingSessions
from platd.auth.tokens import Principal
from platd.runtime.base import ExecSession, RuntimeError_
from platd.services import exec as exec_service
from platd.services import tokens
from platd.services.context import ServiceContext
from platd.spec.errors import InvalidInput, PlatError, Unauthenticated

log = logging.getLogger("platd.exec")

STDIN, STDOUT, STDERR = 0, 1, 2
START_TIMEOUT = 10.0
SIGNALS = {"INT": signal.SIGINT, "QUIT": signal.SIGQUIT, "TERM": signal.SIGTERM,
           "HUP": signal.SIGHUP, "KILL": signal.SIGKILL}
MAX_SIZE = exec_service.MAX_SIZE


class Open(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a session runs, and where: the body of ``POST .../exec/sessions``."""

    instance: str | None = None  # without it: the only running instance of the workload
    workload: str | None = None
    cmd: list[str] = []
    tty: bool = False
    stdin: bool = False
    rows: int = 0
    cols: int = 0
    term: str | None = None


class Start(Open, kw_only=True):
    """The first message of a session that starts on its websocket."""

    type: Literal["start"]


class Control(msgspec.Struct):
    """A control message from the client; unknown types are ignored (newer clients)."""

    type: str
    rows: int = 0
    cols: int = 0
    signal: str = ""


@websocket("/exec")
async def exec_session(
    socket: WebSocket[Any, Any, Any], svc: Svc, cluster: Cluster, org: str, project: str,
    app: str, env: str, session: str | None = None,
) -> None:
    try:
        # Authenticated before the upgrade is accepted: a caller without a valid token gets
        # an HTTP error answer (the API's wire error), never an open socket.
        bearer = bearer_token(socket.headers.get("authorization", ""))
        principal = tokens.principal_for(svc, bearer)
        sessions = _waiting(socket.app.state)
        waiting = (sessions.claim(session, principal, target(org, project, app, env))
                   if session else None)
    except PlatError as e:
        await _deny(socket, e)
        return
    if waiting is not None:
        await _attach(socket, svc, sessions, waiting, bearer)
        return
    await socket.accept()
    bridge = _Bridge(socket)
    try:
        # The start message is read first so that every other refusal answers it.
        start = await _receive_start(socket)
        where = await asyncio.to_thread(
            exec_service.resolve, svc, principal, target(org, project, app, env),
            start.instance, start.workload, relay=cluster is not None,
        )
    except PlatError as e:
        await bridge.fail(e)
        return
    except WebSocketDisconnect:
        return
    if where.host_id != svc.host.id and cluster is not None:
        from platd.cluster.exec_relay import relay

        await relay(socket, bridge, cluster, where, msgspec.structs.asdict(start),
                    principal.name)
        return
    await serve(bridge, svc, socket.app.state.access, principal, where, start, bearer)


async def serve(bridge: Bridge, svc: ServiceContext, access: Access, principal: Principal,
                where: exec_service.ExecTarget, start: Start, bearer: str | None) -> None:
    """Run one session on this host: the process, the bytes both ways, the audit events.

    ``bridge`` is the client's end: this route's websocket, or the web console's page
    (``platd.api.console_exec``), which runs its sessions here in-process. ``bearer`` is the
    caller's token, re-checked on every change of access; None for a session another host
    relays, which that host authorized."""
    try:
        waiting = await _start_process(svc, principal, where, start)
    except PlatError as e:
        await bridge.fail(e)
        return
    await attend(bridge, svc, access, waiting, bearer)


async def _start_process(svc: ServiceContext, principal: Principal,
                         where: exec_service.ExecTarget, start: Open,
                         prestarted: bool = False) -> Waiting:
    cmd = start.cmd or list(exec_service.SHELL)
    process = await exec_service.start(
        svc, where, cmd, tty=start.tty, stdin=start.stdin, rows=start.rows, cols=start.cols,
        term=start.term,
    )
    # The opening event is written while the session runs, off the path of the first byte; the
    # closing event waits for it, and is written before the client learns the exit code.
    opened = asyncio.create_task(asyncio.to_thread(
        exec_service.record_open, svc, principal, where, cmd, tty=start.tty
    ))
    return Waiting(principal, where, cmd, start.tty, start.stdin, process, opened, prestarted)


async def _attach(socket: WebSocket[Any, Any, Any], svc: ServiceContext,
                  sessions: WaitingSessions, waiting: Waiting, bearer: str | None) -> None:
    """Hand a claimed session to its websocket; one refused or abandoned on the way is hung
    up (and its closing event written)."""
    reason = "the client left before attaching"
    attending = False
    try:
        try:
            # Checked again: the caller's role may have changed since the process started.
            await asyncio.to_thread(exec_service.authorize, svc, bearer, waiting.where.target)
        except PlatError as e:
            reason = f"refused when attaching: {e.message}"
            await _deny(socket, e)
            return
        await socket.accept()
        attending = True
        await attend(_Bridge(socket), svc, socket.app.state.access, waiting, bearer)
    finally:
        if not attending:
            sessions.hang_up(waiting, reason)


async def attend(bridge: Bridge, svc: ServiceContext, access: Access, waiting: Waiting,
                 bearer: str | None) -> None:
    """A started process's session, from the ``started`` message to the ``exit`` one."""
    where, process = waiting.where, waiting.process
    exit_code: int | None = None
    ended_by: str | None = "the client disconnected"
    live: LiveSession | None = None
    try:
        # Ended at once if the caller loses access meanwhile (a revoked token, a removed member).
        live = (access.open(bearer, where.target, waiting.principal.expires_at)
                if bearer is not None else LiveSession(None, where.target))
        await bridge.send_json({
            "type": "started", "instance": {**where.describe(), "host_name": svc.host.name},
            "cmd": waiting.cmd, "tty": waiting.tty, "stdin": waiting.stdin,
            "prestarted": waiting.prestarted,
        })
        ended_by = await bridge.run(process, live)
        if ended_by is None:
            exit_code = await process.wait()
    except WebSocketDisconnect:
        pass
    finally:
        if live is not None:
            access.close(live)
        await waiting.end(svc, exit_code=exit_code, ended_by=ended_by)
    if ended_by is None:
        await bridge.finish(exit_code)


@post("/exec/sessions", status_code=201)
async def open_session(
    request: Request[Any, Any, State], svc: Svc, cluster: Cluster, principal: Caller, org: str,
    project: str, app: str, env: str, data: Open,
) -> dict[str, str | None]:
    """Start the process now; the websocket that attaches to it (``?session=ID``) gets its
    output from the first byte (``platd.api.exec_waiting`` says why)."""
    exec_service.check_request(data.cmd, data.rows, data.cols)
    sessions = _waiting(request.app.state)
    if not sessions.reserve(principal.token_id):
        return {"session": None}  # no room: the client starts it on its websocket
    try:
        where = await asyncio.to_thread(
            exec_service.resolve, svc, principal, target(org, project, app, env),
            data.instance, data.workload, relay=cluster is not None,
        )
        if where.host_id != svc.host.id:
            sessions.unreserve(principal.token_id)
            return {"session": None}  # relayed: the client starts it on its websocket
        waiting = await _start_process(svc, principal, where, data, prestarted=True)
    except BaseException:
        sessions.unreserve(principal.token_id)
        raise
    return {"session": sessions.add(waiting)}


@delete("/exec/sessions/{session_id:str}", status_code=204)
async def cancel_session(request: Request[Any, Any, State], principal: Caller, org: str,
                         project: str, app: str, env: str, session_id: str) -> None:
    """A client that gives up before attaching (its websocket failed, Ctrl-C) hangs the
    process up at once instead of leaving it to run unseen until the attach time is over."""
    sessions = _waiting(request.app.state)
    waiting = sessions.claim(session_id, principal, target(org, project, app, env))
    sessions.hang_up(waiting, "the client gave up before attaching")


def _waiting(state: State) -> WaitingSessions:
    found: WaitingSessions = state.exec_waiting
    return found


async def _deny(socket: WebSocket[Any, Any, Any], error: PlatError) -> None:
    """Answer the upgrade request with ``error`` as a plain HTTP response (the ASGI websocket
    denial response), so nothing is accepted and the client reads the usual error body."""
    body = json.dumps(error.to_wire()).encode()
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start", "status": error.http_status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }
    await socket.send(start)
    await socket.send({"type": "websocket.http.response.body", "body": body, "more_body": False})


@get("/instances")
async def list_instances(
    svc: Svc, principal: Caller, org: str, project: str, app: str, env: str,
    workload: str | None = None,
) -> dict[str, Any]:
    """The env's instances (or one workload's): what ``plat instances`` and the picker show."""
    return await asyncio.to_thread(
        exec_service.list_instances, svc, principal, target(org, project, app, env), workload
    )


async def _receive_start(socket: WebSocket[Any, Any, Any]) -> Start:
    try:
        message = await asyncio.wait_for(socket.receive(), START_TIMEOUT)
    except TimeoutError:
        raise InvalidInput(f"no start message within {START_TIMEOUT:g}s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="the client left before starting")
    try:
        start = msgspec.json.decode(_text(message), type=Start)
    except msgspec.ValidationError as e:
        raise InvalidInput(f"the start message is not valid: {e}",
                           hint="the exec protocol is described in docs/exec.md") from e
    except msgspec.DecodeError as e:
        raise InvalidInput("the first message of an exec session must be a JSON start message",
                           hint="the exec protocol is described in docs/exec.md") from e
    exec_service.check_request(start.cmd, start.rows, start.cols)
    return start


class Bridge:
    """Moves bytes both ways between a client and one process until either side ends.

    The client's end is a subclass: ``send_json`` and ``send_bytes`` (a stream byte, then the
    data) towards it, ``close``, and ``_input``, which applies what the client sends (stdin,
    ``eof``, ``resize``, ``signal``) to the process and returns when the client leaves."""

    async def send_json(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    async def send_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def _input(self, process: ExecSession) -> None:
        raise NotImplementedError

    async def fail(self, e: PlatError) -> None:
        try:
            await self.send_json({"type": "error", "error": e.to_wire()["error"]})
            await self.close()
        except WebSocketDisconnect:
            pass

    async def finish(self, exit_code: int | None) -> None:
        try:
            await self.send_json({"type": "exit", "code": exit_code})
            await self.close()
        except WebSocketDisconnect:
            pass

    async def run(self, process: ExecSession, live: LiveSession) -> str | None:
        """None once the process closed its output, else why the session ended before that."""
        output = asyncio.create_task(self._output(process), name="exec-output")
        inputs = asyncio.create_task(self._input(process), name="exec-input")
        revoked = asyncio.create_task(live.ended.wait(), name="exec-access")
        try:
            done, _ = await asyncio.wait({output, inputs, revoked},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (output, inputs, revoked):
                task.cancel()
            await asyncio.gather(output, inputs, revoked, return_exceptions=True)
        if revoked in done and output not in done:
            await self.fail(Unauthenticated(
                f"the exec session was ended: its caller lost access ({live.reason})",
                hint="log in again: plat login"))
            return f"access was revoked: {live.reason}"
        first = output if output in done else inputs
        error = first.exception()
        if first is output and error is None:
            return None
        if error is None or isinstance(error, WebSocketDisconnect):
            return "the client disconnected"
        log.warning("exec session failed: %r", error)
        await self.fail(PlatError(f"the exec session failed: {error}"))
        return f"the session failed: {error}"

    async def _output(self, process: ExecSession) -> None:
        while (chunk := await process.read()) is not None:
            channel, data = chunk
            await self.send_bytes(bytes((channel,)) + data)


class _Bridge(Bridge):
    """The exec websocket's end of a session."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self.socket = socket
        self._send_lock = asyncio.Lock()

    async def send_json(self, body: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.socket.send_text(json.dumps(body))

    async def send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
            await self.socket.send_bytes(data)

    async def close(self) -> None:
        await self.socket.close()

    async def _input(self, process: ExecSession) -> None:
        stdin_open = True
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if isinstance(data, bytes):
                if data[:1] == bytes((STDIN,)) and stdin_open and len(data) > 1:
                    await process.write(data[1:])
                continue
            try:
                control = msgspec.json.decode(_text(message), type=Control)
            except msgspec.MsgspecError:
                continue
            if control.type == "eof" and stdin_open:
                stdin_open = False
                await process.close_stdin()
            elif control.type == "resize" and 0 < control.rows <= MAX_SIZE and (
                0 < control.cols <= MAX_SIZE
            ):
                await process.resize(control.rows, control.cols)
            elif control.type == "signal" and control.signal in SIGNALS:
                try:
                    await process.signal(SIGNALS[control.signal])
                except RuntimeError_ as e:
                    await self.send_json({"type": "notice", "message": str(e)})


def _text(message: Any) -> str:
    text = message.get("text")
    return text if isinstance(text, str) else ""


@websocket("/v1/peer/exec", exclude_from_auth=True)
async def peer_exec(socket: WebSocket[Any, Any, Any], svc: Svc, cluster: Cluster,
                    target: str, user: str = "someone") -> None:
    """A session another host relays to this one, for ``user`` (checked there): the peer's
    signature on the upgrade request is the authority here."""
    from platd.cluster import peer_auth

    await socket.accept()
    bridge = _Bridge(socket)
    try:
        if cluster is None:
            raise InvalidInput("this host is not in a cluster")
        path = socket.url.path + (f"?{socket.url.query}" if socket.url.query else "")
        relayed_by = peer_auth.verify(cluster.identity.key, socket.headers.get("authorization"),
                                      "GET", path)
        start = await _receive_start(socket)
        principal = Principal(token_id="peer", name=f"{user[:64]} (via {relayed_by[-12:]})",
                              org_id=None, org_name=None, role="owner")
        where = await asyncio.to_thread(exec_service.resolve, svc, principal, target,
                                        start.instance, start.workload)
    except PlatError as e:
        await bridge.fail(e)
        return
    except WebSocketDisconnect:
        return
    await serve(bridge, svc, socket.app.state.access, principal, where, start, None)


router = Router(path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
                route_handlers=[exec_session, open_session, cancel_session, list_instances])
peer_router = Router(path="/", route_handlers=[peer_exec])
