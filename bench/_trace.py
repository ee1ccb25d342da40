"""Timestamps from inside platd and plat, for bench/rollout_phases.py, without editing either.

Run as ``python bench/_trace.py platd ARGS...`` or ``python bench/_trace.py plat ARGS...``: the
named program runs as usual after a few of its functions were wrapped to append
``{"t": wall time, "p": program, "n": mark, ...}`` lines to the file in $PLAT_TRACE_FILE. Wall
time (not a monotonic clock) so that marks from the two processes and the benchmark line up.

The wrapped functions are internals that change. A target that no longer exists is skipped
and reported on stderr (the phases that need it then show "-"), so a refactor costs detail,
not the benchmark.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

FILE = os.environ.get("PLAT_TRACE_FILE", "")
PROGRAM = "?"


def mark(name: str, **fields: Any) -> None:
    if not FILE:
        return
    line = json.dumps({"t": time.time(), "p": PROGRAM, "n": name, **fields}) + "\n"
    fd = os.open(FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines from two processes never mix
    finally:
        os.close(fd)


def _target(where: str) -> tuple[Any, str] | None:
    """``package.module:Class.attr`` -> (owner, attr), or None when it is gone."""
    module_name, _, path = where.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
    except (ImportError, AttributeError):
        return None
    return (owner, attr) if hasattr(owner, attr) else None


def wrap(where: str, name: str, fields: Callable[..., dict[str, Any]] | None = None) -> None:
    """Mark ``name>`` when the function starts and ``name<`` when it returns."""
    found = _target(where)
    if found is None:
        print(f"bench/_trace.py: {where} not found; phases that need it show '-'",
              file=sys.stderr)
        return
    owner, attr = found
    original = getattr(owner, attr)

    if _is_async(original):
        @functools.wraps(original)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            extra = fields(*args, **kwargs) if fields else {}
            mark(name + ">", **extra)
            try:
                result = await original(*args, **kwargs)
            finally:
                mark(name + "<", **extra)
            return result

        setattr(owner, attr, traced_async)
    else:
        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            extra = fields(*args, **kwargs) if fields else {}
            mark(name + ">", **extra)
            try:
                return original(*args, **kwargs)
            finally:
                mark(name + "<", **extra)

        setattr(owner, attr, traced)


def _is_async(fn: Any) -> bool:
    code = getattr(fn, "__code__", None)
    return bool(code and code.co_flags & 0x80)  # CO_COROUTINE; inspect costs plat 7 ms


def _step(*_args: Any, **f: Any) -> dict[str, Any]:
    return {"step": f.get("step"), "outcome": f.get("outcome"), "status": f.get("status")}


def _verdicts(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The status of the release verdicts written with the instance rows, if any."""
    verdicts = kwargs.get("verdicts", args[3] if len(args) > 3 else ())
    return {"status": ",".join(str(getattr(v, "status", "?")) for v in verdicts) or None}


def hook_platd() -> None:
    wrap("platd.services.releases:prepare_deploy", "prepare_deploy")
    wrap("platd.services.releases:commit_deploy", "commit_deploy")
    wrap("platd.services.rollback:rollback", "rollback")
    wrap("platd.runtime.registry:resolve_digest", "registry_resolve")
    wrap("platd.reconcile.loop:Reconciler.pass_once", "pass")
    wrap("platd.runtime.docker:DockerRuntime.create", "docker_create")
    wrap("platd.runtime.docker:DockerRuntime.start", "docker_start")
    wrap("platd.runtime.docker:DockerRuntime.stop", "docker_stop")
    wrap("platd.runtime.docker:DockerRuntime.remove", "docker_remove")
    wrap("platd.runtime.docker:DockerRuntime.list_instances", "docker_list")
    wrap("platd.runtime.docker:DockerRuntime.inspect", "docker_inspect")
    wrap("platd.reconcile.loop:load_desired", "load_desired")
    wrap("platd.reconcile.observed:write_instances", "write_instances", _verdicts)
    wrap("platd.reconcile.executor:Executor._stop", "stop_task")
    wrap("platd.logs.collector:Collector.drain", "logs_drain")
    wrap("platd.ingress.controller:IngressController.drain", "ingress_drain")
    wrap("platd.reconcile.observed:record_event", "event", _step)
    wrap("platd.reconcile.observed:mark_release", "mark", _step)
    wrap("platd.services.events:list_events", "list_events")
    found = _target("platd.reconcile.loop:Reconciler.__init__")
    if found is None:
        print("bench/_trace.py: Reconciler.__init__ not found; no probe or commit marks",
              file=sys.stderr)
    else:
        _hook_prober_and_commits(*found)
    _hook_http()
    hook_platd_exec()


def hook_platd_exec() -> None:
    """The steps of an exec session on platd's side (bench/exec_phases.py)."""
    wrap("platd.services.tokens:principal_for", "auth")
    wrap("platd.services.exec:resolve", "resolve")
    wrap("platd.services.exec:start", "exec_start")
    wrap("aiodocker.containers:DockerContainer.exec", "docker_exec_create")
    wrap("aiodocker.stream:Stream.__aenter__", "docker_exec_attach")
    wrap("platd.runtime.docker_exec:DockerExecSession.read", "exec_read")
    wrap("platd.runtime.docker_exec:DockerExecSession.wait", "exec_wait")
    wrap("platd.runtime.docker_exec:DockerExecSession._inspect", "docker_exec_inspect")
    wrap("platd.runtime.docker_exec:DockerExecSession.close", "exec_close")
    wrap("platd.services.exec:record_open", "audit_open")
    wrap("platd.services.exec:record_close", "audit_close")


def _hook_prober_and_commits(owner: Any, attr: str) -> None:
    """The prober is an argument of the Reconciler, and commits are announced to its store's
    listeners: both are reached through a new Reconciler."""
    init = getattr(owner, attr)

    @functools.wraps(init)
    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        probe = getattr(self, "_probe", None)
        if probe is not None:
            async def traced_probe(check: Any, host: str, port: int) -> Any:
                mark("probe>")
                result = await probe(check, host, port)
                mark("probe<", ok=bool(getattr(result, "ok", False)))
                return result

            self._probe = traced_probe
        listeners = getattr(getattr(self, "store", None), "listeners", None)
        if isinstance(listeners, list):
            listeners.insert(0, lambda *_changes: mark("commit"))

    setattr(owner, attr, traced_init)


def _hook_http() -> None:
    """Each HTTP request's arrival and the last byte of its answer, at the ASGI boundary."""
    found = _target("litestar:Litestar.__call__")
    if found is None:
        return
    owner, attr = found
    call = getattr(owner, attr)

    async def traced_call(self: Any, scope: Any, receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket":
            return await _traced_websocket(call, self, scope, receive, send)
        if scope.get("type") != "http":
            return await call(self, scope, receive, send)
        path = f"{scope['method']} {scope['path'].rsplit('/', 1)[-1]}"
        mark("http>", path=path)

        async def traced_send(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                mark("http<", path=path)
            await send(message)

        return await call(self, scope, receive, traced_send)

    setattr(owner, attr, traced_call)


async def _traced_websocket(call: Any, app: Any, scope: Any, receive: Any, send: Any) -> Any:
    """A websocket's arrival, each message received and sent (its ASGI type), and the end."""
    mark("ws>", path=scope["path"].rsplit("/", 1)[-1])

    async def traced_receive() -> Any:
        message = await receive()
        mark("ws_recv", type=message["type"])
        return message

    async def traced_send(message: Any) -> None:
        mark("ws_send>", type=message["type"])
        await send(message)

    try:
        return await call(app, scope, traced_receive, traced_send)
    finally:
        mark("ws<")


def _message_kind(_self: Any, message: Any) -> dict[str, Any]:
    return {"kind": "bytes" if isinstance(message, bytes) else message[:20]}


def hook_plat_exec() -> None:
    """The steps of ``plat exec`` (bench/exec_phases.py)."""
    wrap("tui.exec_session:open_session", "open")
    wrap("tui.exec_session:_Opening.run", "post")
    wrap("tui.exec_session:_Opening.session", "joined")
    wrap("tui.exec_session:connect", "connect")
    wrap("tui.ws_import:load", "ws_import")
    wrap("socket:create_connection", "tcp")
    wrap("tui.exec_session:_started", "attach")
    wrap("tui.exec_session:_Session._on_message", "message", _message_kind)
    wrap("tui.exec_session:_Session.close", "close")


def hook_plat() -> None:
    def what(_self: Any, method: str, path: str, *_: Any, **kw: Any) -> dict[str, Any]:
        waits = bool((kw.get("query") or {}).get("wait"))
        return {"path": f"{method} {path.rsplit('/', 1)[-1]}" + (" wait" if waits else "")}

    wrap("tui.client:Client.request", "request", what)


def main() -> int:
    global PROGRAM
    started = time.time()  # before any import of the program: the end of interpreter start-up
    PROGRAM, args = sys.argv[1], sys.argv[2:]
    # Run as a script, this folder is first on the path, and bench/tui.py would shadow `tui`.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    mark("started", at=started)
    if PROGRAM == "platd":
        hook_platd()
        from platd.cli import main as program
    elif PROGRAM == "plat":
        if args[:1] not in ([], ["daemon"]):
            import gc

            gc.disable()  # as tui.entry.run does while a command starts
        from tui.cli.main import main as program

        mark("imported")
        if args[:1] == ["exec"]:
            # Not hook_plat: importing tui.client here would take the HTTP client's import
            # out of the phase it belongs to.
            hook_plat_exec()
        else:
            hook_plat()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} platd|plat ARGS...")
    sys.argv = [PROGRAM, *args]
    try:
        code = int(program() or 0)
    finally:
        mark("exit")
    if PROGRAM == "plat":
        # As the installed `plat` does (tui.entry.run): flush and end the process at once,
        # without tearing every imported module down (measured here: 130-360 ms under load,
        # a cost the real command does not have).
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
